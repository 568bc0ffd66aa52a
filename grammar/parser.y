/* parser.y: the .tra grammar (a pure bison parser over lexer.l).
 *
 * It builds the AST of tra.h and nothing more: names are not resolved and
 * subscripts may be any expression here, so that sema can say precisely
 * what is wrong ("'i + 1' is not an index name") instead of a bare syntax
 * error. Recovery is per statement: `error end` skips to the next newline
 * or ';' and parsing goes on, so one run reports every statement's error.
 * Locations are Spans; a rule's span runs from its first to its last
 * symbol.
 *
 * Messages aim at what a newcomer most likely meant: a statement that
 * ends with an operator at a line end is told how statements continue
 * (and the line after it, which was meant as its continuation, is not
 * reported again); `a ** b` and `a ^ b` parse, as an error that shows the
 * pow(a, b) to write; an expression nested deeper than PARSE_MAX_NESTING
 * is reported once, at the level that crosses the limit.
 */
%code top {
#include "config.h"
}

%code requires {
#include "tra.h"
#define YYLTYPE_IS_DECLARED 1
typedef Span YYLTYPE;
#define YYLLOC_DEFAULT(cur, rhs, n)                                     \
	do {                                                            \
		if (n) {                                                \
			(cur).lo = YYRHSLOC(rhs, 1).lo;                 \
			(cur).hi = YYRHSLOC(rhs, n).hi;                 \
		} else {                                                \
			(cur).lo = (cur).hi = YYRHSLOC(rhs, 0).hi;      \
		}                                                       \
	} while (0)

/* A list under construction (subscripts, arguments, index names). */
typedef struct ParseList {
	int n, cap;
	AstRef *v;
} ParseList;

/* The parser's state, threaded through every action. */
typedef struct Parser {
	AstProgram *prog;
	Arena *arena;
	Diag *diag;
	void *scanner;
	int nerrors;   /* syntax errors */
	int *depth;    /* AstRef -> nesting depth, -1 once reported too deep */
	int depthcap;
} Parser;
}

%code {
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "grammar.h"

/* Bison's stack holds a few symbols per level of nesting: a reduction
 * `sum[k](` five. Its default 10,000 ran out at 2,000 nested reductions,
 * within PARSE_MAX_NESTING, with the wrong message; now only a run of
 * unary minus past the limit can exhaust it (parse_exhausted). */
#define YYMAXDEPTH (8 * PARSE_MAX_NESTING)

int yylex(YYSTYPE *val, YYLTYPE *loc, void *scanner);
static void yyerror(YYLTYPE *loc, void *scanner, Parser *p, const char *msg);
static void parse_error(Parser *p, Span at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static ParseList *list_one(Parser *p, AstRef r);
static ParseList *list_add(Parser *p, ParseList *l, AstRef r);
static AstRef mk_num(Parser *p, Span at, double v, bool integral);
static AstRef mk_leaf(Parser *p, AstKind k, Span at, const char *name);
static AstRef mk_ref(Parser *p, AstKind k, Span at, const char *name, Span name_at, ParseList *args);
static AstRef mk_op(Parser *p, AstKind k, Span at, Span op_at, TraOp op, AstRef a, AstRef b);
static AstRef mk_reduce(Parser *p, Span at, TraAgg agg, Span agg_at, ParseList *idx, AstRef body);
static AstRef mk_pow(Parser *p, Span at, Span op, AstRef a, AstRef b);
static AstRef mk_paren(Parser *p, Span at, AstRef r);
static void stmt_size(Parser *p, Span at, const char *name, Span name_at, AstRef v);
static void stmt_input(Parser *p, Span at, const char *name, Span name_at, ParseList *dims, int type);
static void stmt_output(Parser *p, Span at, const char *name);
static void stmt_feed(Parser *p, Span at, const char *from, Span from_at, const char *to, Span to_at);
static void stmt_def(Parser *p, Span at, const char *name, Span name_at, ParseList *idx, AstRef v);
}

%define api.pure full
%define parse.error verbose
%locations
%param {void *scanner}
%parse-param {Parser *p}

%union {
	struct { double value; bool integral; } num;
	const char *name;
	AstRef ref;
	ParseList *list;
	TraAgg agg;
	int type;
}

%token END 0 "end of file"
%token <name> IDENT "identifier"
%token <num> NUMBER "number"
%token NEWLINE "end of line"
%token SIZE "size" INPUT "input" OUTPUT "output" F32 "f32" F64 "f64" I32 "i32" I64 "i64"
%token SUM "sum" PROD "prod" MAX "max" MIN "min" MEAN "mean" ARGMAX "argmax" ARGMIN "argmin"
%token SELECT "select" INF "inf" GRAD "grad"
%token LE "<=" GE ">=" EQ "==" NE "!="
%token POW "**" CARET "^" ARROW "->"

%type <ref> expr primary
%type <ref> sub
%type <list> exprs opt_exprs opt_shape subs
%type <agg> agg
%type <type> opt_type

%nonassoc '<' '>' LE GE EQ NE
%left '+' '-'
%left '*' '/'
%precedence UMINUS
%right POW CARET

%%

program
	: %empty
	| program line
	;

line
	: stmt end
	| end
	| error end { yyerrok; }
	;

end: NEWLINE | ';' ;

stmt
	: SIZE size_defs
	| INPUT input_decls
	| OUTPUT output_names
	| IDENT '[' subs ']' '=' expr { stmt_def(p, @$, $1, @1, $3, $6); }
	| IDENT '[' ']' '=' expr {
		parse_error(p, span_join(@2, @3), "empty subscript list; a scalar is defined "
		            "without brackets, as '%s = ...'", $1);
	}
	| IDENT '=' expr               { stmt_def(p, @$, $1, @1, NULL, $3); }
	| IDENT ARROW IDENT            { stmt_feed(p, @$, $1, @1, $3, @3); }
	;

size_defs: size_def | size_defs ',' size_def ;
size_def: IDENT '=' expr { stmt_size(p, @$, $1, @1, $3); } ;

input_decls: input_decl | input_decls ',' input_decl ;
input_decl: IDENT opt_shape opt_type { stmt_input(p, @$, $1, @1, $2, $3); } ;
opt_shape
	: %empty          { $$ = NULL; }
	| '[' exprs ']'   { $$ = $2; }
	;
opt_type
	: %empty { $$ = -1; }
	| F32    { $$ = TRART_F32; }
	| F64    { $$ = TRART_F64; }
	| I32    { $$ = TRART_I32; }
	| I64    { $$ = TRART_I64; }
	| IDENT  {
		parse_error(p, @1, "unknown element type '%s'; the types are f32, f64, i32 and i64", $1);
		$$ = -1;
	}
	;

output_names
	: IDENT                  { stmt_output(p, @1, $1); }
	| output_names ',' IDENT { stmt_output(p, @3, $3); }
	;

expr
	: expr '+' expr           { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_ADD, $1, $3); }
	| expr '-' expr           { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_SUB, $1, $3); }
	| expr '*' expr           { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_MUL, $1, $3); }
	| expr '/' expr           { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_DIV, $1, $3); }
	| expr '<' expr           { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_LT, $1, $3); }
	| expr '>' expr           { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_GT, $1, $3); }
	| expr LE expr            { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_LE, $1, $3); }
	| expr GE expr            { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_GE, $1, $3); }
	| expr EQ expr            { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_EQ, $1, $3); }
	| expr NE expr            { $$ = mk_op(p, AST_BINARY, @$, @2, TRA_OP_NE, $1, $3); }
	| '-' expr %prec UMINUS   { $$ = mk_op(p, AST_UNARY, @$, @1, TRA_OP_NEG, $2, -1); }
	| expr POW expr           { $$ = mk_pow(p, @$, @2, $1, $3); }
	| expr CARET expr         { $$ = mk_pow(p, @$, @2, $1, $3); }
	| primary
	;

primary
	: NUMBER                  { $$ = mk_num(p, @$, $1.value, $1.integral); }
	| INF                     { $$ = mk_leaf(p, AST_INF, @$, NULL); }
	| IDENT                   { $$ = mk_leaf(p, AST_NAME, @$, $1); }
	| IDENT '[' subs ']'      { $$ = mk_ref(p, AST_ACCESS, @$, $1, @1, $3); }
	| IDENT '[' ']'           {
		parse_error(p, span_join(@2, @3), "empty subscript list; a scalar is read "
		            "without brackets, as '%s'", $1);
		$$ = mk_leaf(p, AST_NAME, @$, $1);
	}
	| IDENT '(' opt_exprs ')' { $$ = mk_ref(p, AST_CALL, @$, $1, @1, $3); }
	| MAX '(' opt_exprs ')'   { $$ = mk_ref(p, AST_CALL, @$, "max", @1, $3); }
	| MIN '(' opt_exprs ')'   { $$ = mk_ref(p, AST_CALL, @$, "min", @1, $3); }
	| SELECT '(' opt_exprs ')' { $$ = mk_ref(p, AST_CALL, @$, "select", @1, $3); }
	/* grad(L, W): sema accepts it only as a whole right-hand side */
	| GRAD '(' opt_exprs ')'  { $$ = mk_ref(p, AST_CALL, @$, "grad", @1, $3); }
	/* conversions: a type's name called as a function */
	| F32 '(' opt_exprs ')'   { $$ = mk_ref(p, AST_CALL, @$, "f32", @1, $3); }
	| F64 '(' opt_exprs ')'   { $$ = mk_ref(p, AST_CALL, @$, "f64", @1, $3); }
	| I32 '(' opt_exprs ')'   { $$ = mk_ref(p, AST_CALL, @$, "i32", @1, $3); }
	| I64 '(' opt_exprs ')'   { $$ = mk_ref(p, AST_CALL, @$, "i64", @1, $3); }
	| agg '[' subs ']' '(' expr ')' { $$ = mk_reduce(p, @$, $1, @1, $3, $6); }
	| agg '[' ']' '(' expr ')' {
		parse_error(p, span_join(@2, @3), "a reduction lists at least one index to reduce over");
		$$ = $5;
	}
	| '(' expr ')'            { $$ = mk_paren(p, @$, $2); }
	;

agg
	: SUM  { $$ = TRA_AGG_SUM; }
	| PROD { $$ = TRA_AGG_PROD; }
	| MAX  { $$ = TRA_AGG_MAX; }
	| MIN  { $$ = TRA_AGG_MIN; }
	| MEAN { $$ = TRA_AGG_MEAN; }
	| ARGMAX { $$ = TRA_AGG_ARGMAX; }
	| ARGMIN { $$ = TRA_AGG_ARGMIN; }
	;

exprs
	: expr               { $$ = list_one(p, $1); }
	| exprs ',' expr     { $$ = list_add(p, $1, $3); }
	;
opt_exprs
	: %empty  { $$ = NULL; }
	| exprs
	;

/* The items in the brackets of a definition's left-hand side, a tensor
 * element and a reduction: subscripts, and two forms sema accepts only
 * where they mean something (i : N gives an index its range, pad = v
 * makes reads outside a tensor v). */
subs
	: sub            { $$ = list_one(p, $1); }
	| subs ',' sub   { $$ = list_add(p, $1, $3); }
	;
sub
	: expr
	| IDENT ':' expr { $$ = mk_ref(p, AST_RANGED, @$, $1, @1, list_one(p, $3)); }
	| IDENT '=' expr { $$ = mk_ref(p, AST_PAD, @$, $1, @1, list_one(p, $3)); }
	;

%%

/* An error found by a grammar rule (an error production), unless the
 * statement has a lexical error, which most likely explains it (input
 * temp\xE9rature[N] is 'temp', the bad byte, then 'rature' read as an
 * element type). */
static void parse_error(Parser *p, Span at, const char *fmt, ...)
{
	const LexState *st = lex_state(p->scanner);
	char buf[256];
	va_list ap;
	p->nerrors++;
	if (st->tok_stmt == st->lex_error_stmt)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	diag_error(p->diag, at, "%s", buf);
}

static const char *const parse_keywords[] = {
	"size", "input", "output", "f32", "f64", "i32", "i64", "sum", "prod", "max", "min",
	"mean", "argmax", "argmin", "select", "inf", "grad",
};

static bool parse_is_keyword(const char *w, size_t n)
{
	for (size_t i = 0; i < sizeof parse_keywords / sizeof parse_keywords[0]; i++)
		if (strlen(parse_keywords[i]) == n && strncmp(parse_keywords[i], w, n) == 0)
			return true;
	return false;
}

/* Bison's message with keywords quoted ("unexpected 'output'", not the
 * English-looking "unexpected output"). */
static void parse_quote_keywords(const char *msg, char *out, size_t size)
{
	size_t o = 0;
	while (*msg && o + 1 < size) {
		size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz0123456789");
		bool quote = n > 0 && parse_is_keyword(msg, n);
		int w = snprintf(out + o, size - o, quote ? "'%.*s'" : "%.*s", (int)(n ? n : 1), msg);
		if (w < 0 || (size_t)w >= size - o)
			break;
		o += (size_t)w;
		msg += n ? n : 1;
	}
	out[o] = '\0';
}

/* Levenshtein distance of two short words, capped at 9. */
static int parse_distance(const char *a, size_t na, const char *b)
{
	size_t nb = strlen(b);
	int row[16];
	if (na > 14 || nb > 14)
		return 9;
	for (size_t j = 0; j <= nb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= na; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= nb; j++) {
			int up = row[j];
			int best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}

/* Notes that explain common causes of a syntax error. */
static void parse_hints(Parser *p, const LexState *st, Span at)
{
	const Source *src = p->diag->src;
	int tok = st->last_tok;
	if (tok >= SIZE && tok <= INF && tok != INPUT && tok != OUTPUT && tok != SIZE &&
	    (st->stmt_tokens == 1 || tok == st->first_tok))
		diag_note(p->diag, at, "'%.*s' is a keyword; it cannot name a tensor, size or index",
		          (int)(at.hi - at.lo), src->text + at.lo);
	/* a type name where a name was meant parses as a conversion's start,
	   and the error comes after it (sum[i32](...): at the ']') */
	if (st->prev_tok >= F32 && st->prev_tok <= I64 &&
	    (tok == ']' || tok == ',' || tok == ')' || tok == '[' || tok == '=' || tok == ':' ||
	     tok == '+' || tok == '-' || tok == '*' || tok == '/' || tok == NEWLINE || tok == ';' || tok == END)) {
		Span ty = st->prev_span;
		int len = (int)(ty.hi - ty.lo);
		diag_note(p->diag, ty, "'%.*s' is a type name (a conversion is %.*s(...)); it cannot name a "
		          "tensor, size or index", len, src->text + ty.lo, len, src->text + ty.lo);
	}
	if (tok == '<' || tok == '>' || (tok >= LE && tok <= NE))
		diag_note(p->diag, at, "comparisons do not chain; select takes one comparison");
	if (tok == '(' && (st->prev_tok == SUM || st->prev_tok == PROD || st->prev_tok == MEAN ||
	                   st->prev_tok == ARGMAX || st->prev_tok == ARGMIN)) {
		Span agg = st->prev_span;
		diag_note(p->diag, agg, "a reduction lists the indices it reduces over in brackets "
		          "first, as %.*s[k](...)", (int)(agg.hi - agg.lo), src->text + agg.lo);
	}
	if (st->first_tok == IDENT && st->stmt_tokens == 2) {
		Span f = st->first_span;
		for (int k = 0; k < 3; k++) {
			const char *kw = parse_keywords[k];
			if (parse_distance(src->text + f.lo, f.hi - f.lo, kw) <= 2)
				diag_note(p->diag, f, "did you mean '%s'?", kw);
		}
	}
	if (st->depth > 0 && st->depth <= LEX_MAX_OPEN) {
		uint32_t open = st->open[st->depth - 1];
		int l0, c0, l1, c1;
		diag_line_col(src, open, &l0, &c0);
		diag_line_col(src, at.lo, &l1, &c1);
		if (l0 != l1 || tok == END)
			diag_note(p->diag, span_make(open, open + 1), "the bracket opened here is not closed");
	}
}

/* What a statement that ends right after tok lacks there, or NULL. */
static const char *parse_missing(int tok)
{
	switch (tok) {
	case '+': case '-': case '*': case '/': case '<': case '>':
	case LE: case GE: case EQ: case NE: case POW: case CARET:
		return "an operand";
	case '=':
		return "an expression";
	case ',':
		return "a name"; /* outside brackets, only size, input and output lists have commas */
	default:
		return NULL;
	}
}

/* A statement that ends right after an operator, '=' or ',': says what
 * is missing and, at a line end, how statements continue. The next
 * statement is then most likely the continuation the user meant, and its
 * own syntax error would only repeat the point, so it is not reported. */
static bool parse_dangling(Parser *p, LexState *st)
{
	const char *missing = parse_missing(st->prev_tok);
	if ((st->last_tok != NEWLINE && st->last_tok != ';') || !missing)
		return false;
	Span op = st->prev_span;
	int n = (int)(op.hi - op.lo);
	const char *text = p->diag->src->text + op.lo;
	/* the NEWLINE made up at the end of the file is empty */
	if (st->last_tok == NEWLINE && st->tok_span.hi > st->tok_span.lo) {
		diag_error(p->diag, op, "expected %s after '%.*s'; a statement continues onto the "
		           "next line only inside (...) or [...]", missing, n, text);
		st->continued_stmt = st->tok_stmt + 1;
	} else
		diag_error(p->diag, op, "expected %s after '%.*s'", missing, n, text);
	return true;
}

/* Bison's stack ran out: only a long run of unary minus gets there, since
 * the scanner bounds the brackets (see PARSE_MAX_NESTING). */
static void parse_exhausted(Parser *p, const LexState *st, Span at)
{
	if (st->deep_stmt != st->tok_stmt)
		diag_error(p->diag, at, "expression nested too deeply: more than %d levels of operators, "
		           "calls and brackets; split it into several statements", PARSE_MAX_NESTING);
}

/* Bison's message and hints, unless a lexical error in the statement
 * already explains it, or the statement is the continuation of one that
 * ended in an operator. Then the scanner ends the statement at the next
 * newline, whatever brackets are open. */
static void yyerror(YYLTYPE *loc, void *scanner, Parser *p, const char *msg)
{
	LexState *st = lex_state(scanner);
	p->nerrors++;
	/* an error found at the statement's end must not spill into the next */
	if (st->last_tok != NEWLINE && st->last_tok != ';' && st->last_tok != END)
		st->recovering = true;
	if (strcmp(msg, "memory exhausted") == 0) {
		parse_exhausted(p, st, *loc);
		return;
	}
	if (st->tok_stmt == st->lex_error_stmt || st->tok_stmt == st->continued_stmt)
		return;
	if (parse_dangling(p, st))
		return;
	char buf[512];
	parse_quote_keywords(msg, buf, sizeof buf);
	diag_error(p->diag, *loc, "%s", buf);
	parse_hints(p, st, *loc);
}

static ParseList *list_one(Parser *p, AstRef r)
{
	ParseList *l = arena_alloc(p->arena, sizeof *l);
	return list_add(p, l, r);
}

static ParseList *list_add(Parser *p, ParseList *l, AstRef r)
{
	ARENA_RESERVE(p->arena, l->v, l->n, l->cap);
	l->v[l->n++] = r;
	return l;
}

/* A new expression node, at depth 0 until its operands say more. */
static AstRef parse_expr(Parser *p, AstKind k, Span at)
{
	AstRef r = ast_expr_new(p->prog, p->arena, k, at);
	ARENA_RESERVE(p->arena, p->depth, r, p->depthcap);
	p->depth[r] = 0;
	return r;
}

/* The deepest of n operands, or -1 if one was reported too deep. */
static int parse_deepest(const Parser *p, const AstRef *kids, int n)
{
	int d = 0;
	for (int i = 0; i < n; i++) {
		if (p->depth[kids[i]] < 0)
			return -1;
		if (p->depth[kids[i]] > d)
			d = p->depth[kids[i]];
	}
	return d;
}

/* Makes r one level deeper than `below`, its deepest operand. The level
 * that crosses PARSE_MAX_NESTING is reported at `at` (unless the scanner
 * did, for brackets), and from there up the expression is -1, so that
 * the levels around it say nothing more. */
static void parse_nest(Parser *p, AstRef r, int below, Span at)
{
	const LexState *st = lex_state(p->scanner);
	p->depth[r] = -1;
	if (below < 0)
		return;
	if (below < PARSE_MAX_NESTING) {
		p->depth[r] = below + 1;
		return;
	}
	if (st->deep_stmt != st->tok_stmt)
		parse_error(p, at, "expression nested too deeply: more than %d levels of operators, "
		            "calls and brackets; split it into several statements", PARSE_MAX_NESTING);
}

static AstRef mk_num(Parser *p, Span at, double v, bool integral)
{
	AstRef r = parse_expr(p, AST_NUM, at);
	p->prog->ex[r].num.value = v;
	p->prog->ex[r].num.integral = integral;
	return r;
}

static AstRef mk_leaf(Parser *p, AstKind k, Span at, const char *name)
{
	AstRef r = parse_expr(p, k, at);
	p->prog->ex[r].ref.name = name;
	p->prog->ex[r].ref.name_span = at;
	return r;
}

static AstRef mk_ref(Parser *p, AstKind k, Span at, const char *name, Span name_at, ParseList *args)
{
	AstRef r = parse_expr(p, k, at);
	AstExpr *e = &p->prog->ex[r];
	e->ref.name = name;
	e->ref.name_span = name_at;
	e->ref.nargs = args ? args->n : 0;
	e->ref.args = args ? args->v : NULL;
	parse_nest(p, r, parse_deepest(p, e->ref.args, e->ref.nargs), name_at);
	return r;
}

static AstRef mk_op(Parser *p, AstKind k, Span at, Span op_at, TraOp op, AstRef a, AstRef b)
{
	AstRef r = parse_expr(p, k, at);
	AstExpr *e = &p->prog->ex[r];
	e->op.op = op;
	e->op.a = a;
	e->op.b = b;
	AstRef kids[2] = {a, b};
	parse_nest(p, r, parse_deepest(p, kids, b < 0 ? 1 : 2), op_at);
	return r;
}

static AstRef mk_reduce(Parser *p, Span at, TraAgg agg, Span agg_at, ParseList *idx, AstRef body)
{
	AstRef r = parse_expr(p, AST_REDUCE, at);
	AstExpr *e = &p->prog->ex[r];
	e->red.agg = agg;
	e->red.agg_span = agg_at;
	e->red.nidx = idx->n;
	e->red.idx = idx->v;
	e->red.body = body;
	parse_nest(p, r, parse_deepest(p, &body, 1), agg_at);
	return r;
}

/* ( expr ): the same node, its span widened to the parentheses, and a
 * level deeper, as the scanner counts brackets. */
static AstRef mk_paren(Parser *p, Span at, AstRef r)
{
	p->prog->ex[r].span = at;
	parse_nest(p, r, p->depth[r], span_make(at.lo, at.lo + 1));
	return r;
}

/* The span of an operand without parentheses that enclose all of it. */
static Span parse_unparen(const Parser *p, AstRef r)
{
	Span s = p->prog->ex[r].span;
	const char *t = p->diag->src->text;
	if (s.hi - s.lo < 2 || t[s.lo] != '(' || t[s.hi - 1] != ')')
		return s;
	int depth = 0;
	for (uint32_t i = s.lo; i < s.hi - 1; i++) {
		depth += (t[i] == '(' || t[i] == '[') - (t[i] == ')' || t[i] == ']');
		if (depth == 0)
			return s; /* "(a) * (b)" */
	}
	return span_make(s.lo + 1, s.hi - 1);
}

/* Whether the text at s is short, one-line, printable ASCII: fit to quote. */
static bool parse_quotable(const Parser *p, Span s)
{
	if (s.hi - s.lo > 40)
		return false;
	for (uint32_t i = s.lo; i < s.hi; i++)
		if (p->diag->src->text[i] < 0x20 || p->diag->src->text[i] > 0x7e)
			return false;
	return true;
}

/* a ** b or a ^ b, which .tra writes pow(a, b): an error that shows the
 * call to write, and that call as the result, so parsing goes on. */
static AstRef mk_pow(Parser *p, Span at, Span op, AstRef a, AstRef b)
{
	const char *t = p->diag->src->text;
	Span sa = parse_unparen(p, a), sb = parse_unparen(p, b);
	if (parse_quotable(p, sa) && parse_quotable(p, sb))
		parse_error(p, op, "there is no '%.*s' operator; write pow(%.*s, %.*s)",
		            (int)(op.hi - op.lo), t + op.lo, (int)(sa.hi - sa.lo), t + sa.lo,
		            (int)(sb.hi - sb.lo), t + sb.lo);
	else
		parse_error(p, op, "there is no '%.*s' operator; write pow(a, b) for a to the power b",
		            (int)(op.hi - op.lo), t + op.lo);
	return mk_ref(p, AST_CALL, at, "pow", op, list_add(p, list_one(p, a), b));
}

static void stmt_size(Parser *p, Span at, const char *name, Span name_at, AstRef v)
{
	AstStmt *s = ast_stmt_new(p->prog, p->arena, AST_STMT_SIZE, at);
	s->name = name;
	s->name_span = name_at;
	s->value = v;
}

static void stmt_input(Parser *p, Span at, const char *name, Span name_at, ParseList *dims, int type)
{
	AstStmt *s = ast_stmt_new(p->prog, p->arena, AST_STMT_INPUT, at);
	s->name = name;
	s->name_span = name_at;
	s->nidx = dims ? dims->n : 0;
	s->idx = dims ? dims->v : NULL;
	s->typed = type >= 0;
	s->type = type >= 0 ? (TrartDtype)type : TRART_F32;
}

static void stmt_output(Parser *p, Span at, const char *name)
{
	AstStmt *s = ast_stmt_new(p->prog, p->arena, AST_STMT_OUTPUT, at);
	s->name = name;
	s->name_span = at;
}

/* NEXT -> X: tensor NEXT is input X's value at the next step (training). */
static void stmt_feed(Parser *p, Span at, const char *from, Span from_at, const char *to, Span to_at)
{
	AstStmt *s = ast_stmt_new(p->prog, p->arena, AST_STMT_FEED, at);
	s->name = from;
	s->name_span = from_at;
	s->to = to;
	s->to_span = to_at;
}

static void stmt_def(Parser *p, Span at, const char *name, Span name_at, ParseList *idx, AstRef v)
{
	AstStmt *s = ast_stmt_new(p->prog, p->arena, AST_STMT_DEF, at);
	s->name = name;
	s->name_span = name_at;
	s->nidx = idx ? idx->n : 0;
	s->idx = idx ? idx->v : NULL;
	s->value = v;
}

int parse_program(const Source *src, Arena *arena, Diag *diag, AstProgram *prog)
{
	LexState st = {.src = src, .diag = diag, .arena = arena};
	Parser p = {.prog = prog, .arena = arena, .diag = diag};
	memset(prog, 0, sizeof *prog);
	if (lex_open(&st, &p.scanner) != 0)
		trac_fatal("out of memory creating the scanner");
	int rc = yyparse(p.scanner, &p);
	lex_close(p.scanner);
	/* rc 2 is bison's "memory exhausted" (a run of unary minus longer
	 * than its stack), reported through yyerror as nesting too deep. */
	if (rc != 0 && p.nerrors == 0)
		p.nerrors++;
	return st.nerrors + p.nerrors;
}
