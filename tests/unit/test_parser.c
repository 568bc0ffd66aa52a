/* test_parser.c: Check tests for the grammar (grammar/parser.y).
 *
 * Each test parses a small source with parse_program and checks the AST:
 * expression trees are compared as prefix strings ("(+ a (* b c))", see
 * unit.h), statements by kind, name, type and span. Spans are checked as
 * byte offsets, so a test states exactly which text a node covers. The
 * last tests are about errors: recovery at the next statement, the count
 * of errors, the note at an unclosed bracket, the nesting limit, and the
 * messages for what newcomers write (a statement that ends with an
 * operator, ** and ^, sum(...)).
 */
#include "unit.h"

#include "grammar.h" /* PARSE_MAX_NESTING */

/* Parses src, which must be valid, and returns the run. */
static UnitRun *parse_ok(const char *src)
{
	UnitRun *u = unit_parse(src);
	ck_assert_msg(u->nerrors == 0, "errors in:\n%s\n%s", src, unit_diag(u));
	return u;
}

/* The right-hand side of the only statement "x = EXPR", as a prefix string. */
static void assert_expr(const char *expr, const char *want)
{
	char src[512];
	snprintf(src, sizeof src, "x = %s\n", expr);
	UnitRun *u = parse_ok(src);
	ck_assert_int_eq(u->prog.nst, 1);
	ck_assert_int_eq(u->prog.st[0].kind, AST_STMT_DEF);
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[0].value), want);
	unit_free(u);
}

/* The source text an expression's span covers, in the run's arena. */
static const char *span_text(UnitRun *u, Span s)
{
	ck_assert_uint_le(s.lo, s.hi);
	ck_assert_uint_le(s.hi, u->src.len);
	return arena_strndup(&u->arena, u->src.text + s.lo, s.hi - s.lo);
}

/* ---- precedence and associativity -------------------------------------------- */

START_TEST(precedence_mul_over_add)
{
	assert_expr("a + b * c", "(+ a (* b c))");
	assert_expr("a * b + c", "(+ (* a b) c)");
	assert_expr("a - b / c", "(- a (/ b c))");
	assert_expr("a / b - c * d", "(- (/ a b) (* c d))");
	assert_expr("(a + b) * c", "(* (+ a b) c)");
}
END_TEST

START_TEST(precedence_unary_minus)
{
	assert_expr("-a * b", "(* (neg a) b)");
	assert_expr("a * -b", "(* a (neg b))");
	assert_expr("-a + b", "(+ (neg a) b)");
	assert_expr("- -a", "(neg (neg a))");
	assert_expr("-a - -b", "(- (neg a) (neg b))");
	assert_expr("-(a + b)", "(neg (+ a b))");
	assert_expr("-X[i] * 2", "(* (neg X[i]) 2)");
	assert_expr("-inf", "(neg inf)");
}
END_TEST

START_TEST(precedence_comparison_lowest)
{
	assert_expr("select(a + 1 < b * 2, a, b)", "select((< (+ a 1) (* b 2)),a,b)");
	assert_expr("select(j <= i, a, -inf)", "select((<= j i),a,(neg inf))");
	assert_expr("select(-a >= b - c, 1, 0)", "select((>= (neg a) (- b c)),1,0)");
	assert_expr("select(a == b, 1, 0)", "select((== a b),1,0)");
	assert_expr("select(a != b / 2, 1, 0)", "select((!= a (/ b 2)),1,0)");
	assert_expr("select(a > b, 1, 0)", "select((> a b),1,0)");
	/* the grammar builds a comparison anywhere; sema restricts it */
	assert_expr("a < b + c", "(< a (+ b c))");
}
END_TEST

START_TEST(comparison_not_associative)
{
	UnitRun *u = unit_parse("x = select(a < b < c, 1, 0)\n");
	ck_assert_int_eq(u->nerrors, 1);
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "syntax error"));
	unit_free(u);
}
END_TEST

START_TEST(left_associativity)
{
	assert_expr("a - b - c", "(- (- a b) c)");
	assert_expr("a / b / c", "(/ (/ a b) c)");
	assert_expr("a - b + c", "(+ (- a b) c)");
	assert_expr("a / b * c", "(* (/ a b) c)");
	assert_expr("a + b + c + d", "(+ (+ (+ a b) c) d)");
	assert_expr("a - (b - c)", "(- a (- b c))");
}
END_TEST

START_TEST(primaries)
{
	assert_expr("3", "3");
	assert_expr("2.5e-1", "0.25");
	assert_expr("inf", "inf");
	assert_expr("N", "N");
	assert_expr("X[i, k]", "X[i,k]");
	assert_expr("exp(a)", "exp(a)");
	assert_expr("pow(a, 2)", "pow(a,2)");
	assert_expr("f()", "f()");
	assert_expr("X[i + 1]", "X[(+ i 1)]");
	assert_expr("((a))", "a");
}
END_TEST

START_TEST(expression_spans)
{
	UnitRun *u = parse_ok("y = (a + b) * -c - relu(X[i, j])\n");
	const AstExpr *top = &u->prog.ex[u->prog.st[0].value];
	ck_assert_str_eq(span_text(u, top->span), "(a + b) * -c - relu(X[i, j])");
	ck_assert_int_eq(top->kind, AST_BINARY);
	const AstExpr *mul = &u->prog.ex[top->op.a];
	ck_assert_str_eq(span_text(u, mul->span), "(a + b) * -c");
	/* a parenthesised expression's span includes its parentheses */
	const AstExpr *add = &u->prog.ex[mul->op.a];
	ck_assert_str_eq(span_text(u, add->span), "(a + b)");
	const AstExpr *neg = &u->prog.ex[mul->op.b];
	ck_assert_int_eq(neg->kind, AST_UNARY);
	ck_assert_str_eq(span_text(u, neg->span), "-c");
	const AstExpr *call = &u->prog.ex[top->op.b];
	ck_assert_int_eq(call->kind, AST_CALL);
	ck_assert_str_eq(span_text(u, call->span), "relu(X[i, j])");
	ck_assert_str_eq(span_text(u, call->ref.name_span), "relu");
	const AstExpr *acc = &u->prog.ex[call->ref.args[0]];
	ck_assert_int_eq(acc->kind, AST_ACCESS);
	ck_assert_str_eq(span_text(u, acc->span), "X[i, j]");
	ck_assert_str_eq(span_text(u, acc->ref.name_span), "X");
	ck_assert_str_eq(span_text(u, u->prog.ex[acc->ref.args[1]].span), "j");
	/* the statement runs from its name to the end of the expression */
	ck_assert_str_eq(span_text(u, u->prog.st[0].span), "y = (a + b) * -c - relu(X[i, j])");
	ck_assert_str_eq(span_text(u, u->prog.st[0].name_span), "y");
	unit_free(u);
}
END_TEST

START_TEST(reduction_spans)
{
	UnitRun *u = parse_ok("Y[i] = 1 + max[j, k](X[i, j] * W[j, k])\n");
	const AstExpr *add = &u->prog.ex[u->prog.st[0].value];
	const AstExpr *red = &u->prog.ex[add->op.b];
	ck_assert_int_eq(red->kind, AST_REDUCE);
	ck_assert_str_eq(span_text(u, red->span), "max[j, k](X[i, j] * W[j, k])");
	ck_assert_str_eq(span_text(u, red->red.agg_span), "max");
	ck_assert_str_eq(span_text(u, u->prog.ex[red->red.idx[1]].span), "k");
	ck_assert_str_eq(span_text(u, u->prog.ex[red->red.body].span), "X[i, j] * W[j, k]");
	unit_free(u);
}
END_TEST

START_TEST(multiline_spans)
{
	UnitRun *u = parse_ok("y = exp(a +\n        b)\n");
	const AstExpr *call = &u->prog.ex[u->prog.st[0].value];
	ck_assert_str_eq(span_text(u, call->span), "exp(a +\n        b)");
	int line, col;
	diag_line_col(&u->src, u->prog.ex[call->ref.args[0]].span.hi, &line, &col);
	ck_assert_int_eq(line, 2);
	ck_assert_int_eq(col, 10);
	unit_free(u);
}
END_TEST

/* ---- statements -------------------------------------------------------------------- */

START_TEST(size_list)
{
	UnitRun *u = parse_ok("size A = 1, B = 2*A\n");
	ck_assert_int_eq(u->prog.nst, 2);
	ck_assert_int_eq(u->prog.st[0].kind, AST_STMT_SIZE);
	ck_assert_int_eq(u->prog.st[1].kind, AST_STMT_SIZE);
	ck_assert_str_eq(u->prog.st[0].name, "A");
	ck_assert_str_eq(u->prog.st[1].name, "B");
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[0].value), "1");
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[1].value), "(* 2 A)");
	/* each item's span is its own "NAME = expr" */
	ck_assert_str_eq(span_text(u, u->prog.st[0].span), "A = 1");
	ck_assert_str_eq(span_text(u, u->prog.st[1].span), "B = 2*A");
	ck_assert_str_eq(span_text(u, u->prog.st[1].name_span), "B");
	ck_assert_int_eq(u->prog.st[0].nidx, 0);
	unit_free(u);
}
END_TEST

START_TEST(input_list_with_types)
{
	UnitRun *u = parse_ok("input X[N, D] f64, y\ninput Z[N] f32, alpha f64\n");
	ck_assert_int_eq(u->prog.nst, 4);
	const AstStmt *x = &u->prog.st[0], *y = &u->prog.st[1];
	const AstStmt *z = &u->prog.st[2], *alpha = &u->prog.st[3];
	ck_assert_int_eq(x->kind, AST_STMT_INPUT);
	ck_assert_int_eq(y->kind, AST_STMT_INPUT);
	ck_assert_str_eq(x->name, "X");
	ck_assert_int_eq(x->nidx, 2);
	ck_assert_str_eq(unit_ast_str(u, x->idx[0]), "N");
	ck_assert_str_eq(unit_ast_str(u, x->idx[1]), "D");
	ck_assert_int_eq(x->type, TRART_F64);
	ck_assert(x->typed);
	ck_assert_str_eq(span_text(u, x->span), "X[N, D] f64");
	/* y is a scalar with the default type */
	ck_assert_str_eq(y->name, "y");
	ck_assert_int_eq(y->nidx, 0);
	ck_assert_int_eq(y->type, TRART_F32);
	ck_assert(!y->typed);
	ck_assert_str_eq(span_text(u, y->span), "y");
	ck_assert_int_eq(z->type, TRART_F32);
	ck_assert(z->typed);
	ck_assert_int_eq(alpha->nidx, 0);
	ck_assert_int_eq(alpha->type, TRART_F64);
	unit_free(u);
}
END_TEST

START_TEST(input_dimension_expressions)
{
	UnitRun *u = parse_ok("input X[2 * N, N / 2, 3]\n");
	ck_assert_int_eq(u->prog.st[0].nidx, 3);
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[0].idx[0]), "(* 2 N)");
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[0].idx[1]), "(/ N 2)");
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[0].idx[2]), "3");
	unit_free(u);
}
END_TEST

START_TEST(output_list)
{
	UnitRun *u = parse_ok("output P\noutput M, N, Q\n");
	ck_assert_int_eq(u->prog.nst, 4);
	static const char *const names[] = {"P", "M", "N", "Q"};
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(u->prog.st[i].kind, AST_STMT_OUTPUT);
		ck_assert_str_eq(u->prog.st[i].name, names[i]);
		ck_assert_str_eq(span_text(u, u->prog.st[i].span), names[i]);
		ck_assert_int_eq(u->prog.st[i].value, -1);
	}
	unit_free(u);
}
END_TEST

START_TEST(definitions)
{
	UnitRun *u = parse_ok("s = sum[i](x[i])\nT[i, j] = A[j, i]\n");
	ck_assert_int_eq(u->prog.nst, 2);
	const AstStmt *s = &u->prog.st[0], *t = &u->prog.st[1];
	ck_assert_int_eq(s->kind, AST_STMT_DEF);
	ck_assert_str_eq(s->name, "s");
	ck_assert_int_eq(s->nidx, 0);
	ck_assert_ptr_null(s->idx);
	ck_assert_str_eq(unit_ast_str(u, s->value), "sum[i](x[i])");
	ck_assert_int_eq(t->kind, AST_STMT_DEF);
	ck_assert_int_eq(t->nidx, 2);
	ck_assert_str_eq(unit_ast_str(u, t->idx[0]), "i");
	ck_assert_str_eq(unit_ast_str(u, t->idx[1]), "j");
	ck_assert_str_eq(unit_ast_str(u, t->value), "A[j,i]");
	ck_assert_str_eq(span_text(u, t->span), "T[i, j] = A[j, i]");
	unit_free(u);
}
END_TEST

START_TEST(reductions)
{
	static const struct {
		const char *src;
		TraAgg agg;
		int nidx;
	} cases[] = {
		{"sum[k](X[k])", TRA_AGG_SUM, 1},
		{"prod[k, l](X[k, l])", TRA_AGG_PROD, 2},
		{"max[a, b, c](X[a, b, c])", TRA_AGG_MAX, 3},
		{"min[k](X[k])", TRA_AGG_MIN, 1},
		{"mean[k](X[k])", TRA_AGG_MEAN, 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char src[128];
		snprintf(src, sizeof src, "y = %s\n", cases[i].src);
		UnitRun *u = parse_ok(src);
		const AstExpr *e = &u->prog.ex[u->prog.st[0].value];
		ck_assert_int_eq(e->kind, AST_REDUCE);
		ck_assert_int_eq(e->red.agg, cases[i].agg);
		ck_assert_int_eq(e->red.nidx, cases[i].nidx);
		for (int k = 0; k < e->red.nidx; k++)
			ck_assert_int_eq(u->prog.ex[e->red.idx[k]].kind, AST_NAME);
		unit_free(u);
	}
	assert_expr("sum[j](exp(X[i, j] - max[k](X[i, k])))",
	            "sum[j](exp((- X[i,j] max[k](X[i,k]))))");
	assert_expr("sum[k](a) / sum[l](b)", "(/ sum[k](a) sum[l](b))");
}
END_TEST

START_TEST(max_call_vs_reduction)
{
	assert_expr("max(a, b)", "max(a,b)");
	assert_expr("min(a, b)", "min(a,b)");
	assert_expr("max[j](a)", "max[j](a)");
	assert_expr("min[j](a)", "min[j](a)");
	assert_expr("max(max[j](X[j]), min(a, b))", "max(max[j](X[j]),min(a,b))");
	UnitRun *u = parse_ok("y = max(a, b) + max[j](c)\n");
	const AstExpr *add = &u->prog.ex[u->prog.st[0].value];
	const AstExpr *call = &u->prog.ex[add->op.a];
	const AstExpr *red = &u->prog.ex[add->op.b];
	ck_assert_int_eq(call->kind, AST_CALL);
	ck_assert_str_eq(call->ref.name, "max");
	ck_assert_int_eq(call->ref.nargs, 2);
	ck_assert_int_eq(red->kind, AST_REDUCE);
	ck_assert_int_eq(red->red.agg, TRA_AGG_MAX);
	unit_free(u);
	/* sum, prod and mean are reductions only */
	u = unit_parse("y = sum(a)\n");
	ck_assert_int_gt(u->nerrors, 0);
	unit_free(u);
	/* a function is not a reduction */
	u = unit_parse("y = exp[j](a)\n");
	ck_assert_int_gt(u->nerrors, 0);
	unit_free(u);
}
END_TEST

START_TEST(multiline_statements)
{
	UnitRun *u = parse_ok("size N = 2\n"
	                      "Y[i,\n"
	                      "  j] = sum[k](\n"
	                      "    X[i, k] *\n"
	                      "    W[k,\n"
	                      "      j]\n"
	                      ")\n"
	                      "output Y\n");
	ck_assert_int_eq(u->prog.nst, 3);
	ck_assert_int_eq(u->prog.st[1].nidx, 2);
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[1].value), "sum[k]((* X[i,k] W[k,j]))");
	ck_assert_int_eq(u->prog.st[2].kind, AST_STMT_OUTPUT);
	unit_free(u);
	/* a newline outside brackets ends the statement, even after an operator */
	u = unit_parse("y = a +\n b\n");
	ck_assert_int_gt(u->nerrors, 0);
	unit_free(u);
}
END_TEST

START_TEST(blank_lines_and_semicolons)
{
	UnitRun *u = parse_ok("\n\n# comment\n;;size N = 1;\n\n;output N;\n");
	ck_assert_int_eq(u->prog.nst, 2);
	unit_free(u);
	u = parse_ok("");
	ck_assert_int_eq(u->prog.nst, 0);
	unit_free(u);
}
END_TEST

START_TEST(mlp_program)
{
	UnitRun *u = parse_ok("size N = 8192, D = 1024, H = 4096, C = 16\n"
	                      "input X[N, D]\ninput W1[D, H]\ninput b1[H]\ninput W2[H, C]\n"
	                      "Hd[i, j] = relu(sum[k](X[i, k] * W1[k, j]) + b1[j])\n"
	                      "Y[i, c]  = sum[k](Hd[i, k] * W2[k, c])\n"
	                      "M[i]     = max[c](Y[i, c])\n"
	                      "E[i, c]  = exp(Y[i, c] - M[i])\n"
	                      "P[i, c]  = E[i, c] / sum[c2](E[i, c2])\n"
	                      "output P\n");
	ck_assert_int_eq(u->prog.nst, 4 + 4 + 5 + 1);
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[8].value),
	                 "relu((+ sum[k]((* X[i,k] W1[k,j])) b1[j]))");
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[12].value), "(/ E[i,c] sum[c2](E[i,c2]))");
	unit_free(u);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------- */

START_TEST(syntax_error_message)
{
	UnitRun *u = unit_parse("size N = 2\nx = a b\n");
	ck_assert_int_eq(u->parse_errors, 1);
	const char *d = unit_diag(u);
	ck_assert_msg(strstr(d, "test.tra:2:7: error: syntax error, unexpected identifier") != NULL, "%s", d);
	ck_assert_ptr_nonnull(strstr(d, "x = a b\n      ^\n"));
	unit_free(u);
}
END_TEST

START_TEST(error_recovery)
{
	UnitRun *u = unit_parse("size N = 4\n"
	                        "input X[N]\n"
	                        "A[i] = X[i] +* 2\n"     /* broken */
	                        "B[i] = X[i] * 2\n"
	                        "C[i] = * X[i]\n"        /* broken */
	                        "input [N]\n"            /* broken */
	                        "D[i] = B[i] - 1; output D\n");
	ck_assert_int_eq(u->parse_errors, 3);
	ck_assert_int_eq(u->diag.nerrors, 3);
	ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 3);
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "test.tra:3:"));
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "test.tra:5:"));
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "test.tra:6:"));
	/* the good statements are all there */
	static const char *const good[] = {"N", "X", "B", "D", "D"};
	static const AstStmtKind kinds[] = {AST_STMT_SIZE, AST_STMT_INPUT, AST_STMT_DEF,
	                                    AST_STMT_DEF, AST_STMT_OUTPUT};
	ck_assert_int_eq(u->prog.nst, 5);
	for (int i = 0; i < 5; i++) {
		ck_assert_str_eq(u->prog.st[i].name, good[i]);
		ck_assert_int_eq(u->prog.st[i].kind, kinds[i]);
	}
	unit_free(u);
}
END_TEST

START_TEST(error_recovery_unclosed_bracket)
{
	/* a missing ')' swallows newlines until a token cannot continue the
	 * expression; that line is lost too, but not the rest of the file */
	UnitRun *u = unit_parse("size N = 4\n"
	                        "x = exp(1 +\n"
	                        "2\n"
	                        "y = 3\n"
	                        "z = 4\n");
	ck_assert_int_eq(u->parse_errors, 1);
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "test.tra:4:1: error:"));
	ck_assert_int_eq(u->prog.nst, 2);
	ck_assert_str_eq(u->prog.st[0].name, "N");
	ck_assert_str_eq(u->prog.st[1].name, "z");
	unit_free(u);
}
END_TEST

START_TEST(unclosed_bracket_note)
{
	UnitRun *u = unit_parse("size N = 2\nx = exp(1 +\n2\noutput N\n");
	ck_assert_int_eq(u->parse_errors, 1);
	const char *d = unit_diag(u);
	ck_assert_msg(strstr(d, "test.tra:4:1: error: syntax error") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "test.tra:2:8: note: the bracket opened here is not closed") != NULL,
	              "%s", d);
	ck_assert_ptr_nonnull(strstr(d, "x = exp(1 +\n       ^\n"));
	unit_free(u);
	/* an error on the bracket's own line needs no note */
	u = unit_parse("x = exp(1 + 2 +)\n");
	ck_assert_int_eq(u->parse_errors, 1);
	ck_assert_ptr_null(strstr(unit_diag(u), "note:"));
	unit_free(u);
	/* at the end of the file too */
	u = unit_parse("size N = 2\noutput N\nx = exp(1 +\n2\n");
	ck_assert_int_eq(u->parse_errors, 1);
	ck_assert_msg(strstr(unit_diag(u), "test.tra:3:8: note: the bracket opened here is not closed")
	              != NULL, "%s", unit_diag(u));
	ck_assert_int_eq(u->prog.nst, 2);
	unit_free(u);
	/* the innermost open bracket is the one shown */
	u = unit_parse("x = f(a,\n  X[i,\n  output\n");
	ck_assert_int_eq(u->parse_errors, 1);
	ck_assert_msg(strstr(unit_diag(u), "test.tra:2:4: note: the bracket opened here") != NULL,
	              "%s", unit_diag(u));
	unit_free(u);
}
END_TEST

START_TEST(error_at_statement_end_then_brackets)
{
	/* A statement whose error is found at its newline (or ';'), followed
	 * by a valid statement whose brackets span lines: that newline is
	 * inside brackets and must not end the second statement, so there is
	 * exactly one error (LANGUAGE.md, "Lexical rules"). */
	static const char *const srcs[] = {
		"x = a <\nY[i] = (a[i] +\n a[i])\n",
		"x = a < ; Y[i] = (a[i] +\n a[i])\n",
		"size N =\nY[i] = exp(\n a[i])\n",
	};
	for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
		UnitRun *u = unit_parse(srcs[i]);
		ck_assert_msg(u->parse_errors == 1, "%d errors, expected 1, for:\n%s\n%s",
		              u->parse_errors, srcs[i], unit_diag(u));
		ck_assert_int_eq(u->prog.nst, 1);
		ck_assert_str_eq(u->prog.st[0].name, "Y");
		unit_free(u);
	}
}
END_TEST

START_TEST(incomplete_statements)
{
	static const char *const srcs[] = {
		"size\n", "size N\n", "size N =\n", "input\n", "input X[]\n", "input X[N\n",
		"output\n", "output P,\n", "x =\n", "X[] = 1\n", "x = (\n", "x = sum[](a)\n",
		"x = sum[k]\n", "x = sum[k]()\n", "= 3\n", "3 = x\n", "x = a,\n", "x = 1 2\n",
		"input X[N] f16\n", "x = select(a < b, 1\n", "output P M\n", ")\n", "]\n",
	};
	for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
		UnitRun *u = unit_parse(srcs[i]);
		ck_assert_msg(u->parse_errors >= 1, "no error for '%s'", srcs[i]);
		ck_assert_ptr_nonnull(strstr(unit_diag(u), "error:"));
		unit_free(u);
	}
}
END_TEST

START_TEST(lexical_and_syntax_errors_counted)
{
	/* '@' is skipped and '1.2.3' is a number token, so each statement
	 * still parses; a syntax error after a lexical one in a statement may
	 * go unprinted, but parse_program counts every error it printed */
	UnitRun *u = unit_parse("size N = 2 @\nx = 1.2.3 +\ny = 1\nz = 2x\n");
	const char *d = unit_diag(u);
	ck_assert_ptr_nonnull(strstr(d, "test.tra:1:12: error: unexpected character '@'"));
	ck_assert_ptr_nonnull(strstr(d, "test.tra:2:5: error: malformed number '1.2.3'"));
	ck_assert_ptr_nonnull(strstr(d, "test.tra:4:5: error: malformed number '2x'"));
	ck_assert_int_ge(u->diag.nerrors, 3);
	ck_assert_int_ge(u->parse_errors, u->diag.nerrors);
	/* the good statements and the lexically broken ones are there */
	ck_assert_int_ge(u->prog.nst, 3);
	ck_assert_str_eq(u->prog.st[0].name, "N");
	unit_free(u);
}
END_TEST

START_TEST(deep_nesting)
{
	/* far deeper than bison's stack: one error, not a crash, and the
	 * next statement is still parsed */
	enum { DEPTH = 20000 };
	char *src = malloc(2 * DEPTH + 64);
	size_t p = (size_t)sprintf(src, "x = ");
	for (int i = 0; i < DEPTH; i++)
		src[p++] = '(';
	src[p++] = '1';
	for (int i = 0; i < DEPTH; i++)
		src[p++] = ')';
	strcpy(src + p, "\ny = 2\n");
	UnitRun *u = unit_parse(src);
	ck_assert_int_ge(u->parse_errors, 1);
	ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 1);
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "expression nested too deeply"));
	ck_assert_int_eq(u->prog.nst, 1);
	ck_assert_str_eq(u->prog.st[0].name, "y");
	unit_free(u);
	/* a moderate depth is fine */
	p = (size_t)sprintf(src, "x = ");
	for (int i = 0; i < 500; i++)
		src[p++] = '(';
	src[p++] = '1';
	for (int i = 0; i < 500; i++)
		src[p++] = ')';
	strcpy(src + p, "\n");
	u = parse_ok(src);
	ck_assert_str_eq(unit_ast_str(u, u->prog.st[0].value), "1");
	unit_free(u);
	free(src);
}
END_TEST

/* "x = " then n copies of `head`, then `mid`, then n copies of `tail`. */
static char *repeat_source(int n, const char *head, const char *mid, const char *tail)
{
	size_t len = 16 + (size_t)n * (strlen(head) + strlen(tail)) + strlen(mid);
	char *src = malloc(len), *q = src + sprintf(src, "x = ");
	for (int i = 0; i < n; i++)
		q += sprintf(q, "%s", head);
	q += sprintf(q, "%s", mid);
	for (int i = 0; i < n; i++)
		q += sprintf(q, "%s", tail);
	strcpy(q, "\n");
	return src;
}

/* Parses n levels of head/mid/tail: fine if n is at most the limit; one
 * error past it. */
static void assert_nesting_limit(const char *head, const char *mid, const char *tail, int limit)
{
	char *src = repeat_source(limit, head, mid, tail);
	UnitRun *u = unit_parse(src);
	ck_assert_msg(u->nerrors == 0, "%d levels of '%s': %s", limit, head, unit_diag(u));
	unit_free(u);
	free(src);
	src = repeat_source(limit + 1, head, mid, tail);
	u = unit_parse(src);
	ck_assert_msg(unit_count(unit_diag(u), "error: expression nested too deeply: more than 2000 "
	                         "levels") == 1, "%d levels of '%s': %s", limit + 1, head, unit_diag(u));
	ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 1);
	unit_free(u);
	free(src);
}

START_TEST(nesting_limit)
{
	ck_assert_int_eq(PARSE_MAX_NESTING, 2000); /* as tra(5) says */
	/* each bracket pair, call, subscript, reduction and operator is a
	 * level; a name or number is none */
	assert_nesting_limit("(", "1", ")", PARSE_MAX_NESTING);
	assert_nesting_limit("exp(", "1", ")", PARSE_MAX_NESTING);
	assert_nesting_limit("-", "1", "", PARSE_MAX_NESTING);
	assert_nesting_limit("exp(-", "1", ")", PARSE_MAX_NESTING / 2);
	assert_nesting_limit("X[", "i", "]", PARSE_MAX_NESTING);
	assert_nesting_limit("", "1", " + 1", PARSE_MAX_NESTING);
	assert_nesting_limit("(1 + ", "1", ")", PARSE_MAX_NESTING / 2);
	assert_nesting_limit("sum[k](", "1", ")", PARSE_MAX_NESTING);
	/* a run of unary minus too long for bison's stack */
	char *src = repeat_source(20000, "-", "1", "");
	UnitRun *u = unit_parse(src);
	ck_assert_int_eq(unit_count(unit_diag(u), "error: expression nested too deeply"), 1);
	unit_free(u);
	free(src);
}
END_TEST

START_TEST(dangling_operator)
{
	/* the error is at the operator, says what is missing and how a
	 * statement continues; the next line is not reported again */
	UnitRun *u = unit_parse("x = a +\n    b\ny = 1\n");
	const char *d = unit_diag(u);
	ck_assert_int_eq(unit_count(d, "error:"), 1);
	ck_assert_msg(strstr(d, "test.tra:1:7: error: expected an operand after '+'; a statement "
	                        "continues onto the next line only inside (...) or [...]\n"
	                        "x = a +\n      ^\n") != NULL, "%s", d);
	ck_assert_int_eq(u->prog.nst, 1);
	ck_assert_str_eq(u->prog.st[0].name, "y");
	unit_free(u);
	/* what is missing depends on the token */
	static const struct {
		const char *src, *want;
	} cases[] = {
		{"x = a *\n", "error: expected an operand after '*'; a statement continues"},
		{"x = a <=\n", "error: expected an operand after '<='"},
		{"x = a **\n", "error: expected an operand after '**'"},
		{"x = -\n", "error: expected an operand after '-'"},
		{"x =\n  a\n", "error: expected an expression after '='; a statement continues"},
		{"size N =\n", "error: expected an expression after '='"},
		{"output a,\n  b\n", "test.tra:1:9: error: expected a name after ','"},
		{"input X[N],\n  Y[N]\n", "error: expected a name after ','"},
		/* at a ';' or the end of the file, nothing about lines */
		{"x = a + ; y = 1\n", "error: expected an operand after '+'\n"},
		{"x = a +", "error: expected an operand after '+'\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		u = unit_parse(cases[i].src);
		ck_assert_msg(strstr(unit_diag(u), cases[i].want) != NULL, "'%s':\n%s", cases[i].src,
		              unit_diag(u));
		ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 1);
		unit_free(u);
	}
	/* a valid statement after it is kept; only the one right after is
	 * taken as the continuation */
	u = unit_parse("x = a +\ny = 1\nz = +\n");
	ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 2);
	ck_assert_int_eq(u->prog.nst, 1);
	unit_free(u);
	u = unit_parse("x = a +\n\n# comment\n  b\nz = +\n");
	ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 2);
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "test.tra:5:5: error:"));
	unit_free(u);
}
END_TEST

START_TEST(lexical_error_then_statement_end)
{
	/* a syntax error found at the newline of a statement with a lexical
	 * error is that statement's, and stays quiet */
	static const char *const srcs[] = {"x = a +@\n", "x = @\n", "x = a + \xE2\x80\x8B\n",
	                                   "size N = 4 $,\n", "x = exp(a &&\n"};
	for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
		UnitRun *u = unit_parse(srcs[i]);
		ck_assert_msg(unit_count(unit_diag(u), "error:") == 1, "'%s':\n%s", srcs[i], unit_diag(u));
		unit_free(u);
	}
	/* but the next statement's errors are reported */
	UnitRun *u = unit_parse("x = a +@\ny = )\n");
	ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 2);
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "test.tra:2:5: error: syntax error"));
	unit_free(u);
	/* a grammar rule's own error is quiet too: 'rature' is not reported as
	 * an element type */
	u = unit_parse("input temp\xE9rature[N]\n");
	ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 1);
	unit_free(u);
}
END_TEST

START_TEST(power_operators)
{
	/* ** and ^ parse, as pow, with an error that shows the call */
	static const struct {
		const char *src, *want, *tree;
	} cases[] = {
		{"x = a ** 2\n", "test.tra:1:7: error: there is no '**' operator; write pow(a, 2)\n"
		                 "x = a ** 2\n      ^~\n", "pow(a,2)"},
		{"x = a ^ b\n", "error: there is no '^' operator; write pow(a, b)", "pow(a,b)"},
		{"x = (a + 1)^(b)\n", "error: there is no '^' operator; write pow(a + 1, b)",
		 "pow((+ a 1),b)"},
		{"x = (a) * (b) ** c\n", "write pow(b, c)", "(* a pow(b,c))"},
		{"x = (a) * (b) ** (c) * (d)\n", "write pow(b, c)", "(* (* a pow(b,c)) d)"},
		{"x = -a ** 2\n", "write pow(a, 2)", "(neg pow(a,2))"},
		{"x = 2 ** -a\n", "write pow(2, -a)", "pow(2,(neg a))"},
		{"x = a * b ^ c\n", "write pow(b, c)", "(* a pow(b,c))"},
		{"x = a_very_long_name_that_goes_on_and_on_and_on ** 2\n",
		 "error: there is no '**' operator; write pow(a, b) for a to the power b", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		UnitRun *u = unit_parse(cases[i].src);
		ck_assert_msg(strstr(unit_diag(u), cases[i].want) != NULL, "'%s':\n%s", cases[i].src,
		              unit_diag(u));
		ck_assert_int_eq(unit_count(unit_diag(u), "error:"), 1);
		ck_assert_int_eq(u->prog.nst, 1);
		if (cases[i].tree)
			ck_assert_str_eq(unit_ast_str(u, u->prog.st[0].value), cases[i].tree);
		unit_free(u);
	}
}
END_TEST

START_TEST(reduction_written_as_call)
{
	UnitRun *u = unit_parse("s = mean(x[i])\n");
	const char *d = unit_diag(u);
	ck_assert_msg(strstr(d, "test.tra:1:9: error: syntax error, unexpected '(', expecting '['\n") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "test.tra:1:5: note: a reduction lists the indices it reduces over in "
	                        "brackets first, as mean[k](...)\ns = mean(x[i])\n    ^~~~\n") != NULL, "%s", d);
	unit_free(u);
}
END_TEST

START_TEST(ast_dump_runs)
{
	UnitRun *u = parse_ok("size N = 2\ninput X[N] f64\nY[i] = -sum[j](X[j]) * X[i]\noutput Y\n");
	UnitMem m;
	unit_mem_open(&m);
	ast_dump(&u->prog, &u->src, m.f);
	const char *d = unit_mem_text(&m);
	ck_assert_ptr_nonnull(strstr(d, "size N @1:6\n"));
	ck_assert_ptr_nonnull(strstr(d, "input X f64 @2:7\n"));
	ck_assert_ptr_nonnull(strstr(d, "reduce sum @3:9\n"));
	ck_assert_ptr_nonnull(strstr(d, "output Y @4:8\n"));
	unit_mem_close(&m);
	unit_free(u);
}
END_TEST

static Suite *parser_suite(void)
{
	Suite *s = suite_create("parser");
	TCase *tc = tcase_create("expressions");
	tcase_add_test(tc, precedence_mul_over_add);
	tcase_add_test(tc, precedence_unary_minus);
	tcase_add_test(tc, precedence_comparison_lowest);
	tcase_add_test(tc, comparison_not_associative);
	tcase_add_test(tc, left_associativity);
	tcase_add_test(tc, primaries);
	tcase_add_test(tc, expression_spans);
	tcase_add_test(tc, reduction_spans);
	tcase_add_test(tc, multiline_spans);
	suite_add_tcase(s, tc);
	tc = tcase_create("statements");
	tcase_add_test(tc, size_list);
	tcase_add_test(tc, input_list_with_types);
	tcase_add_test(tc, input_dimension_expressions);
	tcase_add_test(tc, output_list);
	tcase_add_test(tc, definitions);
	tcase_add_test(tc, reductions);
	tcase_add_test(tc, max_call_vs_reduction);
	tcase_add_test(tc, multiline_statements);
	tcase_add_test(tc, blank_lines_and_semicolons);
	tcase_add_test(tc, mlp_program);
	tcase_add_test(tc, ast_dump_runs);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, syntax_error_message);
	tcase_add_test(tc, error_recovery);
	tcase_add_test(tc, error_recovery_unclosed_bracket);
	tcase_add_test(tc, unclosed_bracket_note);
	tcase_add_test(tc, error_at_statement_end_then_brackets);
	tcase_add_test(tc, incomplete_statements);
	tcase_add_test(tc, lexical_and_syntax_errors_counted);
	tcase_add_test(tc, deep_nesting);
	tcase_add_test(tc, nesting_limit);
	tcase_add_test(tc, dangling_operator);
	tcase_add_test(tc, lexical_error_then_statement_end);
	tcase_add_test(tc, power_operators);
	tcase_add_test(tc, reduction_written_as_call);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(parser_suite)
