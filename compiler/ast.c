/* ast.c: building and printing the AST.
 *
 * The dump (--emit=ast) is an indented tree, one node per line, with the
 * line:column of each node, so that tests can diff it and a reader can
 * see how the parser grouped an expression.
 */
#include "tra.h"

AstRef ast_expr_new(AstProgram *p, Arena *a, AstKind kind, Span span)
{
	ARENA_RESERVE(a, p->ex, p->nex, p->excap);
	AstExpr *e = &p->ex[p->nex];
	e->kind = kind;
	e->span = span;
	return p->nex++;
}

AstStmt *ast_stmt_new(AstProgram *p, Arena *a, AstStmtKind kind, Span span)
{
	ARENA_RESERVE(a, p->st, p->nst, p->stcap);
	AstStmt *s = &p->st[p->nst++];
	s->kind = kind;
	s->span = span;
	s->value = -1;
	return s;
}

const char *ast_agg_name(TraAgg agg)
{
	return agg == TRA_AGG_MEAN ? "mean" : tra_agg_name(agg);
}

static void ast_dump_at(const Source *src, Span at, FILE *out)
{
	int line, col;
	diag_line_col(src, at.lo, &line, &col);
	fprintf(out, " @%d:%d", line, col);
}

/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static void ast_dump_expr(const AstProgram *p, const Source *src, AstRef r, int depth, FILE *out)
{
	const AstExpr *e = &p->ex[r];
	fprintf(out, "%*s", 2 * depth, "");
	switch (e->kind) {
	case AST_NUM: fprintf(out, "num %.17g", e->num.value); break;
	case AST_INF: fprintf(out, "inf"); break;
	case AST_NAME: fprintf(out, "name %s", e->ref.name); break;
	case AST_ACCESS: fprintf(out, "access %s", e->ref.name); break;
	case AST_CALL: fprintf(out, "call %s", e->ref.name); break;
	case AST_UNARY: fprintf(out, "unary %s", tra_op_name[e->op.op]); break;
	case AST_BINARY: fprintf(out, "binary %s", tra_op_name[e->op.op]); break;
	case AST_REDUCE: fprintf(out, "reduce %s", ast_agg_name(e->red.agg)); break;
	case AST_RANGED: fprintf(out, "ranged %s", e->ref.name); break;
	case AST_PAD: fprintf(out, "pad %s", e->ref.name); break;
	}
	ast_dump_at(src, e->span, out);
	fputc('\n', out);
	switch (e->kind) {
	case AST_ACCESS:
	case AST_CALL:
	case AST_RANGED:
	case AST_PAD:
		for (int i = 0; i < e->ref.nargs; i++)
			ast_dump_expr(p, src, e->ref.args[i], depth + 1, out);
		break;
	case AST_UNARY:
		ast_dump_expr(p, src, e->op.a, depth + 1, out);
		break;
	case AST_BINARY:
		ast_dump_expr(p, src, e->op.a, depth + 1, out);
		ast_dump_expr(p, src, e->op.b, depth + 1, out);
		break;
	case AST_REDUCE:
		fprintf(out, "%*sover\n", 2 * depth + 2, "");
		for (int i = 0; i < e->red.nidx; i++)
			ast_dump_expr(p, src, e->red.idx[i], depth + 2, out);
		ast_dump_expr(p, src, e->red.body, depth + 1, out);
		break;
	default:
		break;
	}
}

static void ast_dump_stmt(const AstProgram *p, const Source *src, const AstStmt *s, FILE *out)
{
	static const char *const kinds[] = {"size", "input", "output", "def", "feed"};
	fprintf(out, "%s %s", kinds[s->kind], s->name);
	if (s->kind == AST_STMT_FEED)
		fprintf(out, " -> %s", s->to);
	if (s->kind == AST_STMT_INPUT)
		fprintf(out, " %s", trart_dtype_name(s->type));
	ast_dump_at(src, s->span, out);
	fputc('\n', out);
	for (int i = 0; i < s->nidx; i++)
		ast_dump_expr(p, src, s->idx[i], 2, out);
	if (s->kind == AST_STMT_DEF && s->nidx > 0)
		fprintf(out, "  =\n");
	if (s->value >= 0)
		ast_dump_expr(p, src, s->value, 2, out);
}

void ast_dump(const AstProgram *p, const Source *src, FILE *out)
{
	for (int i = 0; i < p->nst; i++)
		ast_dump_stmt(p, src, &p->st[i], out);
}
