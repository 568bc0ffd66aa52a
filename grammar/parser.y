/* parser.y: the .tra grammar (a pure bison parser over lexer.l).
 *
 * It builds the AST of tra.h and nothing more: names are not resolved and
 * subscripts may be any expression here, so that sema can say precisely
 * what is wrong ("'i + 1' is not an index name") instead of a bare syntax
 * error. Recovery is per statement: `error end` skips to the next newline
 * or ';' and parsing goes on, so one run reports every statement's error.
 * Locations are Spans; a rule's span runs from its first to its last
 * symbol.
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
	int nerrors; /* syntax errors */
} Parser;
}

%code {
#include <string.h>

#include "grammar.h"

int yylex(YYSTYPE *val, YYLTYPE *loc, void *scanner);
static void yyerror(YYLTYPE *loc, void *scanner, Parser *p, const char *msg);
static ParseList *list_one(Parser *p, AstRef r);
static ParseList *list_add(Parser *p, ParseList *l, AstRef r);
static AstRef mk_num(Parser *p, Span at, double v, bool integral);
static AstRef mk_leaf(Parser *p, AstKind k, Span at, const char *name);
static AstRef mk_ref(Parser *p, AstKind k, Span at, const char *name, Span name_at, ParseList *args);
static AstRef mk_op(Parser *p, AstKind k, Span at, TraOp op, AstRef a, AstRef b);
static AstRef mk_reduce(Parser *p, Span at, TraAgg agg, Span agg_at, ParseList *idx, AstRef body);
static void stmt_size(Parser *p, Span at, const char *name, Span name_at, AstRef v);
static void stmt_input(Parser *p, Span at, const char *name, Span name_at, ParseList *dims, int type);
static void stmt_output(Parser *p, Span at, const char *name);
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
%token SIZE "size" INPUT "input" OUTPUT "output" F32 "f32" F64 "f64"
%token SUM "sum" PROD "prod" MAX "max" MIN "min" MEAN "mean"
%token SELECT "select" INF "inf"
%token LE "<=" GE ">=" EQ "==" NE "!="

%type <ref> expr primary
%type <list> exprs opt_exprs opt_shape
%type <agg> agg
%type <type> opt_type

%nonassoc '<' '>' LE GE EQ NE
%left '+' '-'
%left '*' '/'
%precedence UMINUS

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
	| IDENT '[' exprs ']' '=' expr { stmt_def(p, @$, $1, @1, $3, $6); }
	| IDENT '=' expr               { stmt_def(p, @$, $1, @1, NULL, $3); }
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
	;

output_names
	: IDENT                  { stmt_output(p, @1, $1); }
	| output_names ',' IDENT { stmt_output(p, @3, $3); }
	;

expr
	: expr '+' expr           { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_ADD, $1, $3); }
	| expr '-' expr           { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_SUB, $1, $3); }
	| expr '*' expr           { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_MUL, $1, $3); }
	| expr '/' expr           { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_DIV, $1, $3); }
	| expr '<' expr           { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_LT, $1, $3); }
	| expr '>' expr           { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_GT, $1, $3); }
	| expr LE expr            { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_LE, $1, $3); }
	| expr GE expr            { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_GE, $1, $3); }
	| expr EQ expr            { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_EQ, $1, $3); }
	| expr NE expr            { $$ = mk_op(p, AST_BINARY, @$, TRA_OP_NE, $1, $3); }
	| '-' expr %prec UMINUS   { $$ = mk_op(p, AST_UNARY, @$, TRA_OP_NEG, $2, -1); }
	| primary
	;

primary
	: NUMBER                  { $$ = mk_num(p, @$, $1.value, $1.integral); }
	| INF                     { $$ = mk_leaf(p, AST_INF, @$, NULL); }
	| IDENT                   { $$ = mk_leaf(p, AST_NAME, @$, $1); }
	| IDENT '[' exprs ']'     { $$ = mk_ref(p, AST_ACCESS, @$, $1, @1, $3); }
	| IDENT '(' opt_exprs ')' { $$ = mk_ref(p, AST_CALL, @$, $1, @1, $3); }
	| MAX '(' opt_exprs ')'   { $$ = mk_ref(p, AST_CALL, @$, "max", @1, $3); }
	| MIN '(' opt_exprs ')'   { $$ = mk_ref(p, AST_CALL, @$, "min", @1, $3); }
	| SELECT '(' opt_exprs ')' { $$ = mk_ref(p, AST_CALL, @$, "select", @1, $3); }
	| agg '[' exprs ']' '(' expr ')' { $$ = mk_reduce(p, @$, $1, @1, $3, $6); }
	| '(' expr ')'            { $$ = $2; p->prog->ex[$$].span = @$; }
	;

agg
	: SUM  { $$ = TRA_AGG_SUM; }
	| PROD { $$ = TRA_AGG_PROD; }
	| MAX  { $$ = TRA_AGG_MAX; }
	| MIN  { $$ = TRA_AGG_MIN; }
	| MEAN { $$ = TRA_AGG_MEAN; }
	;

exprs
	: expr               { $$ = list_one(p, $1); }
	| exprs ',' expr     { $$ = list_add(p, $1, $3); }
	;
opt_exprs
	: %empty  { $$ = NULL; }
	| exprs
	;

%%

/* Bison's message, plus a note at the bracket a newline was swallowed by
 * when the error comes on a later line than that bracket. */
static void yyerror(YYLTYPE *loc, void *scanner, Parser *p, const char *msg)
{
	LexState *st = lex_state(p->scanner);
	p->nerrors++;
	diag_error(p->diag, *loc, "%s", msg);
	if (st->depth > 0 && st->depth <= LEX_MAX_OPEN) {
		uint32_t open = st->open[st->depth - 1];
		int l0, c0, l1, c1;
		diag_line_col(p->diag->src, open, &l0, &c0);
		diag_line_col(p->diag->src, loc->lo, &l1, &c1);
		if (l0 != l1)
			diag_note(p->diag, span_make(open, open + 1),
			          "the bracket opened here is not closed");
	}
	st->recovering = true;
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

static AstRef mk_num(Parser *p, Span at, double v, bool integral)
{
	AstRef r = ast_expr_new(p->prog, p->arena, AST_NUM, at);
	p->prog->ex[r].num.value = v;
	p->prog->ex[r].num.integral = integral;
	return r;
}

static AstRef mk_leaf(Parser *p, AstKind k, Span at, const char *name)
{
	AstRef r = ast_expr_new(p->prog, p->arena, k, at);
	p->prog->ex[r].ref.name = name;
	p->prog->ex[r].ref.name_span = at;
	return r;
}

static AstRef mk_ref(Parser *p, AstKind k, Span at, const char *name, Span name_at, ParseList *args)
{
	AstRef r = ast_expr_new(p->prog, p->arena, k, at);
	AstExpr *e = &p->prog->ex[r];
	e->ref.name = name;
	e->ref.name_span = name_at;
	e->ref.nargs = args ? args->n : 0;
	e->ref.args = args ? args->v : NULL;
	return r;
}

static AstRef mk_op(Parser *p, AstKind k, Span at, TraOp op, AstRef a, AstRef b)
{
	AstRef r = ast_expr_new(p->prog, p->arena, k, at);
	AstExpr *e = &p->prog->ex[r];
	e->op.op = op;
	e->op.a = a;
	e->op.b = b;
	return r;
}

static AstRef mk_reduce(Parser *p, Span at, TraAgg agg, Span agg_at, ParseList *idx, AstRef body)
{
	AstRef r = ast_expr_new(p->prog, p->arena, AST_REDUCE, at);
	AstExpr *e = &p->prog->ex[r];
	e->red.agg = agg;
	e->red.agg_span = agg_at;
	e->red.nidx = idx->n;
	e->red.idx = idx->v;
	e->red.body = body;
	return r;
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
	/* rc 2 is bison's "memory exhausted" (nesting deeper than its
	 * stack), already reported through yyerror. */
	if (rc != 0 && p.nerrors == 0)
		p.nerrors++;
	return st.nerrors + p.nerrors;
}
