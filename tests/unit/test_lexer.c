/* test_lexer.c: Check tests for the scanner (grammar/lexer.l).
 *
 * The scanner is tested through lex_dump_tokens, the function behind
 * `trac --emit=tokens`: one line per token, "L:C-L:C kind 'text'", so
 * each test compares the whole token stream of a small source with the
 * lines it expects. Number values, which the dump does not show, are
 * read back from the AST. The error tests count lexical errors and look
 * for their messages; the last ones feed bytes that are not text (NUL,
 * UTF-8, stray control characters, invisible characters) and check that
 * every one is reported, named and escaped, never echoed raw, and that
 * line ends (LF, CRLF, lone CR), a byte order mark and characters beyond
 * ASCII leave lines and columns right.
 */
#include "unit.h"

#include "grammar.h" /* PARSE_MAX_NESTING */

/* Asserts the token dump of src, and that it has no lexical errors. */
static void assert_tokens(const char *src, const char *want)
{
	char *tokens, *diags;
	int n = unit_lex(src, &tokens, &diags);
	ck_assert_msg(n == 0, "lexical errors in '%s':\n%s", src, diags);
	ck_assert_str_eq(tokens, want);
	free(tokens);
	free(diags);
}

/* The value of the right-hand side of the first statement "x = NUMBER". */
static double number_value(const char *src, bool *integral)
{
	UnitRun *u = unit_parse(src);
	ck_assert_msg(u->nerrors == 0, "errors in '%s':\n%s", src, unit_diag(u));
	ck_assert_int_eq(u->prog.nst, 1);
	const AstExpr *e = &u->prog.ex[u->prog.st[0].value];
	ck_assert_int_eq(e->kind, AST_NUM);
	double v = e->num.value;
	*integral = e->num.integral;
	unit_free(u);
	return v;
}

/* ---- keywords, identifiers, numbers ---------------------------------------- */

START_TEST(keywords_and_identifiers)
{
	assert_tokens("size sizes input_ f32x f64 sum summ prod max min mean select inf info output _x9 Sum\n",
	              "1:1-1:5 keyword 'size'\n"
	              "1:6-1:11 identifier 'sizes'\n"
	              "1:12-1:18 identifier 'input_'\n"
	              "1:19-1:23 identifier 'f32x'\n"
	              "1:24-1:27 keyword 'f64'\n"
	              "1:28-1:31 keyword 'sum'\n"
	              "1:32-1:36 identifier 'summ'\n"
	              "1:37-1:41 keyword 'prod'\n"
	              "1:42-1:45 keyword 'max'\n"
	              "1:46-1:49 keyword 'min'\n"
	              "1:50-1:54 keyword 'mean'\n"
	              "1:55-1:61 keyword 'select'\n"
	              "1:62-1:65 keyword 'inf'\n"
	              "1:66-1:70 identifier 'info'\n"
	              "1:71-1:77 keyword 'output'\n"
	              "1:78-1:81 identifier '_x9'\n"
	              "1:82-1:85 identifier 'Sum'\n"
	              "1:85-2:1 newline\n");
}
END_TEST

START_TEST(every_keyword)
{
	static const char *const kw[] = {"size", "input", "output", "f32", "f64", "sum", "prod",
	                                 "max", "min", "mean", "select", "inf"};
	for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
		char src[32], want[128];
		snprintf(src, sizeof src, "%s", kw[i]);
		snprintf(want, sizeof want, "1:1-1:%zu keyword '%s'\n1:%zu-1:%zu newline\n",
		         strlen(kw[i]) + 1, kw[i], strlen(kw[i]) + 1, strlen(kw[i]) + 1);
		assert_tokens(src, want);
		/* a keyword with anything after it is an identifier */
		snprintf(src, sizeof src, "%s_", kw[i]);
		snprintf(want, sizeof want, "1:1-1:%zu identifier '%s_'\n1:%zu-1:%zu newline\n",
		         strlen(kw[i]) + 2, kw[i], strlen(kw[i]) + 2, strlen(kw[i]) + 2);
		assert_tokens(src, want);
	}
}
END_TEST

START_TEST(numbers)
{
	assert_tokens("3 0.5 .5 1e-3 2.5E+4 10. 7e2 inf\n",
	              "1:1-1:2 number '3'\n"
	              "1:3-1:6 number '0.5'\n"
	              "1:7-1:9 number '.5'\n"
	              "1:10-1:14 number '1e-3'\n"
	              "1:15-1:21 number '2.5E+4'\n"
	              "1:22-1:25 number '10.'\n"
	              "1:26-1:29 number '7e2'\n"
	              "1:30-1:33 keyword 'inf'\n"
	              "1:33-2:1 newline\n");
}
END_TEST

START_TEST(number_values)
{
	bool integral;
	ck_assert_double_eq(number_value("x = 3", &integral), 3.0);
	ck_assert(integral);
	ck_assert_double_eq(number_value("x = 0.5", &integral), 0.5);
	ck_assert(!integral);
	ck_assert_double_eq(number_value("x = .5", &integral), 0.5);
	ck_assert(!integral);
	ck_assert_double_eq(number_value("x = 1e-3", &integral), 1e-3);
	ck_assert(!integral);
	ck_assert_double_eq(number_value("x = 2.5E+4", &integral), 25000.0);
	ck_assert(!integral);
	ck_assert_double_eq(number_value("x = 3.0", &integral), 3.0);
	ck_assert(!integral);
	ck_assert_double_eq(number_value("x = 1e3", &integral), 1000.0);
	ck_assert(!integral);
	ck_assert_double_eq(number_value("x = 0", &integral), 0.0);
	ck_assert(integral);
	ck_assert_double_eq(number_value("x = 007", &integral), 7.0);
	ck_assert(integral);
	/* underflow to zero or a denormal is not an error */
	ck_assert_double_le(number_value("x = 1e-400", &integral), 1e-300);
}
END_TEST

START_TEST(number_then_operator)
{
	/* a sign after a number is an operator, not part of it */
	assert_tokens("2-1 3+.5",
	              "1:1-1:2 number '2'\n"
	              "1:2-1:3 punct '-'\n"
	              "1:3-1:4 number '1'\n"
	              "1:5-1:6 number '3'\n"
	              "1:6-1:7 punct '+'\n"
	              "1:7-1:9 number '.5'\n"
	              "1:9-1:9 newline\n");
}
END_TEST

/* ---- comments, operators, punctuation --------------------------------------- */

START_TEST(comments)
{
	assert_tokens("x = 1 # comment ( [ @ 1.2.3\n# whole line\ny # at EOF",
	              "1:1-1:2 identifier 'x'\n"
	              "1:3-1:4 punct '='\n"
	              "1:5-1:6 number '1'\n"
	              "1:28-2:1 newline\n"
	              "2:13-3:1 newline\n"
	              "3:1-3:2 identifier 'y'\n"
	              "3:11-3:11 newline\n");
}
END_TEST

START_TEST(comment_only_file)
{
	/* no token, so no synthesised newline at the end */
	assert_tokens("# nothing", "");
	assert_tokens("", "");
}
END_TEST

START_TEST(operators)
{
	assert_tokens("a<=b>=c==d!=e<f>g=h",
	              "1:1-1:2 identifier 'a'\n"
	              "1:2-1:4 operator '<='\n"
	              "1:4-1:5 identifier 'b'\n"
	              "1:5-1:7 operator '>='\n"
	              "1:7-1:8 identifier 'c'\n"
	              "1:8-1:10 operator '=='\n"
	              "1:10-1:11 identifier 'd'\n"
	              "1:11-1:13 operator '!='\n"
	              "1:13-1:14 identifier 'e'\n"
	              "1:14-1:15 punct '<'\n"
	              "1:15-1:16 identifier 'f'\n"
	              "1:16-1:17 punct '>'\n"
	              "1:17-1:18 identifier 'g'\n"
	              "1:18-1:19 punct '='\n"
	              "1:19-1:20 identifier 'h'\n"
	              "1:20-1:20 newline\n");
	/* spaced apart, they are two tokens */
	assert_tokens("< = > =",
	              "1:1-1:2 punct '<'\n"
	              "1:3-1:4 punct '='\n"
	              "1:5-1:6 punct '>'\n"
	              "1:7-1:8 punct '='\n"
	              "1:8-1:8 newline\n");
}
END_TEST

START_TEST(punctuation)
{
	assert_tokens("+-*/,;()[]",
	              "1:1-1:2 punct '+'\n"
	              "1:2-1:3 punct '-'\n"
	              "1:3-1:4 punct '*'\n"
	              "1:4-1:5 punct '/'\n"
	              "1:5-1:6 punct ','\n"
	              "1:6-1:7 punct ';'\n"
	              "1:7-1:8 punct '('\n"
	              "1:8-1:9 punct ')'\n"
	              "1:9-1:10 punct '['\n"
	              "1:10-1:11 punct ']'\n"
	              "1:11-1:11 newline\n");
}
END_TEST

/* ---- statement ends ------------------------------------------------------------ */

START_TEST(newline_inside_brackets)
{
	assert_tokens("f(a,\n  b)\nX[i,\nj]\nc\n",
	              "1:1-1:2 identifier 'f'\n"
	              "1:2-1:3 punct '('\n"
	              "1:3-1:4 identifier 'a'\n"
	              "1:4-1:5 punct ','\n"
	              "2:3-2:4 identifier 'b'\n"
	              "2:4-2:5 punct ')'\n"
	              "2:5-3:1 newline\n"
	              "3:1-3:2 identifier 'X'\n"
	              "3:2-3:3 punct '['\n"
	              "3:3-3:4 identifier 'i'\n"
	              "3:4-3:5 punct ','\n"
	              "4:1-4:2 identifier 'j'\n"
	              "4:2-4:3 punct ']'\n"
	              "4:3-5:1 newline\n"
	              "5:1-5:2 identifier 'c'\n"
	              "5:2-6:1 newline\n");
}
END_TEST

START_TEST(newline_nested_brackets)
{
	/* the newline counts again only when every bracket is closed */
	assert_tokens("(a[\n(\n)\n]\n)\nb",
	              "1:1-1:2 punct '('\n"
	              "1:2-1:3 identifier 'a'\n"
	              "1:3-1:4 punct '['\n"
	              "2:1-2:2 punct '('\n"
	              "3:1-3:2 punct ')'\n"
	              "4:1-4:2 punct ']'\n"
	              "5:1-5:2 punct ')'\n"
	              "5:2-6:1 newline\n"
	              "6:1-6:2 identifier 'b'\n"
	              "6:2-6:2 newline\n");
}
END_TEST

START_TEST(newline_outside_brackets)
{
	/* every newline outside brackets is a token, blank lines included */
	assert_tokens("a\n\nb +\nc\n",
	              "1:1-1:2 identifier 'a'\n"
	              "1:2-2:1 newline\n"
	              "2:1-3:1 newline\n"
	              "3:1-3:2 identifier 'b'\n"
	              "3:3-3:4 punct '+'\n"
	              "3:4-4:1 newline\n"
	              "4:1-4:2 identifier 'c'\n"
	              "4:2-5:1 newline\n");
}
END_TEST

START_TEST(semicolon_ends_statement)
{
	assert_tokens("a = 1; b = 2;c\n",
	              "1:1-1:2 identifier 'a'\n"
	              "1:3-1:4 punct '='\n"
	              "1:5-1:6 number '1'\n"
	              "1:6-1:7 punct ';'\n"
	              "1:8-1:9 identifier 'b'\n"
	              "1:10-1:11 punct '='\n"
	              "1:12-1:13 number '2'\n"
	              "1:13-1:14 punct ';'\n"
	              "1:14-1:15 identifier 'c'\n"
	              "1:15-2:1 newline\n");
	/* and the parser sees separate statements */
	UnitRun *u = unit_parse("size A = 1; size B = 2; output A");
	ck_assert_int_eq(u->nerrors, 0);
	ck_assert_int_eq(u->prog.nst, 3);
	ck_assert_str_eq(u->prog.st[1].name, "B");
	unit_free(u);
}
END_TEST

START_TEST(no_final_newline)
{
	/* a newline is synthesised at the end, as an empty span */
	assert_tokens("x = 1", "1:1-1:2 identifier 'x'\n"
	                       "1:3-1:4 punct '='\n"
	                       "1:5-1:6 number '1'\n"
	                       "1:6-1:6 newline\n");
	/* but not after a final newline */
	assert_tokens("x\n", "1:1-1:2 identifier 'x'\n"
	                     "1:2-2:1 newline\n");
	/* the parser accepts a last statement without newline */
	UnitRun *u = unit_parse("size N = 2\noutput N");
	ck_assert_int_eq(u->nerrors, 0);
	ck_assert_int_eq(u->prog.nst, 2);
	unit_free(u);
}
END_TEST

START_TEST(blanks_and_crlf)
{
	/* tabs, form feeds and the CR of a CRLF are blanks */
	assert_tokens("\ta\r\n\f b\v\r\n",
	              "1:2-1:3 identifier 'a'\n"
	              "1:4-2:1 newline\n"
	              "2:3-2:4 identifier 'b'\n"
	              "2:6-3:1 newline\n");
}
END_TEST

START_TEST(token_spans)
{
	UnitRun *u = unit_parse("size N = 4\n  input   Xyz[N] f64\n");
	ck_assert_int_eq(u->nerrors, 0);
	ck_assert_int_eq(u->prog.nst, 2);
	const AstStmt *in = &u->prog.st[1];
	/* "Xyz" at bytes 21..24 */
	ck_assert_uint_eq(in->name_span.lo, 21);
	ck_assert_uint_eq(in->name_span.hi, 24);
	/* the item runs from the name to the type: "Xyz[N] f64" */
	ck_assert_uint_eq(in->span.lo, 21);
	ck_assert_uint_eq(in->span.hi, 31);
	int line, col;
	diag_line_col(&u->src, in->name_span.lo, &line, &col);
	ck_assert_int_eq(line, 2);
	ck_assert_int_eq(col, 11);
	unit_free(u);
	assert_tokens("  longname  42.25e1\n\n   z",
	              "1:3-1:11 identifier 'longname'\n"
	              "1:13-1:20 number '42.25e1'\n"
	              "1:20-2:1 newline\n"
	              "2:1-3:1 newline\n"
	              "3:4-3:5 identifier 'z'\n"
	              "3:5-3:5 newline\n");
}
END_TEST

/* ---- lexical errors ------------------------------------------------------------- */

/* Asserts nerr lexical errors in src, one of whose messages contains
 * phrase at the position "test.tra:L:C:" given. */
static void assert_lex_error(const char *src, int nerr, const char *where, const char *phrase)
{
	char *tokens, *diags;
	int n = unit_lex(src, &tokens, &diags);
	ck_assert_msg(n == nerr, "'%s': %d lexical errors, expected %d:\n%s", src, n, nerr, diags);
	char head[128];
	snprintf(head, sizeof head, "%s error: %s", where, phrase);
	ck_assert_msg(strstr(diags, head) != NULL, "'%s': no \"%s\" in:\n%s", src, head, diags);
	free(tokens);
	free(diags);
}

START_TEST(stray_character)
{
	assert_lex_error("a @ b", 1, "test.tra:1:3:", "unexpected character '@'");
	assert_lex_error("x = $y", 1, "test.tra:1:5:", "unexpected character '$'");
	assert_lex_error("a % b", 1, "test.tra:1:3:", "unexpected character '%'");
	assert_lex_error("a ' b", 1, "test.tra:1:3:", "unexpected character \"'\"");
	assert_lex_error("a\n  `", 1, "test.tra:2:3:", "unexpected character '`'");
	/* the scanner skips it and goes on */
	char *tokens, *diags;
	ck_assert_int_eq(unit_lex("a @ b", &tokens, &diags), 1);
	ck_assert_str_eq(tokens, "1:1-1:2 identifier 'a'\n"
	                         "1:5-1:6 identifier 'b'\n"
	                         "1:6-1:6 newline\n");
	/* the caret is under the character */
	ck_assert_ptr_nonnull(strstr(diags, "a @ b\n  ^\n"));
	free(tokens);
	free(diags);
}
END_TEST

START_TEST(malformed_numbers)
{
	assert_lex_error("x = 1.2.3", 1, "test.tra:1:5:", "malformed number '1.2.3'");
	assert_lex_error("x = 2x", 1, "test.tra:1:5:", "malformed number '2x'");
	assert_lex_error("x = 1e", 1, "test.tra:1:5:", "malformed number '1e'");
	assert_lex_error("x = 0x10", 1, "test.tra:1:5:", "malformed number '0x10'");
	assert_lex_error("x = 3_000", 1, "test.tra:1:5:", "malformed number '3_000'");
	/* a malformed number is still one number token, so parsing goes on */
	char *tokens, *diags;
	ck_assert_int_eq(unit_lex("2x + y", &tokens, &diags), 1);
	ck_assert_str_eq(tokens, "1:1-1:3 number '2x'\n"
	                         "1:4-1:5 punct '+'\n"
	                         "1:6-1:7 identifier 'y'\n"
	                         "1:7-1:7 newline\n");
	ck_assert_ptr_nonnull(strstr(diags, "2x + y\n^~\n"));
	free(tokens);
	free(diags);
}
END_TEST

START_TEST(number_too_large)
{
	assert_lex_error("x = 1e999", 1, "test.tra:1:5:", "number '1e999' is too large");
	assert_lex_error("x = 2.5E+400", 1, "test.tra:1:5:", "number '2.5E+400' is too large");
	/* its value is replaced by 0, and the parse error count includes it */
	UnitRun *u = unit_parse("x = 1e999\n");
	ck_assert_int_eq(u->parse_errors, 1);
	ck_assert_int_eq(u->prog.nst, 1);
	ck_assert_double_eq(u->prog.ex[u->prog.st[0].value].num.value, 0.0);
	unit_free(u);
}
END_TEST

START_TEST(errors_are_counted)
{
	assert_lex_error("@ 1.2.3 $ 2x 1e999 ?", 6, "test.tra:1:1:", "unexpected character '@'");
	assert_lex_error("a\nb @\n@ c\n", 2, "test.tra:3:1:", "unexpected character '@'");
	/* parse_program counts lexical errors too, and the statement parses */
	UnitRun *u = unit_parse("size N = 2 @\noutput N\n");
	ck_assert_int_eq(u->parse_errors, 1);
	ck_assert_int_eq(u->diag.nerrors, 1);
	ck_assert_int_eq(u->prog.nst, 2);
	unit_free(u);
}
END_TEST

/* ---- bytes that are not text ---------------------------------------------------- */

START_TEST(nul_bytes)
{
	static const char src[] = "a\0b = \0\n\0";
	char *tokens, *diags;
	int n = unit_lex_n(src, sizeof src - 1, &tokens, &diags);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(unit_count(diags, "unexpected control character '\\x00' (null)"), 3);
	/* the line shown under the message escapes it, and the caret follows */
	ck_assert_msg(strstr(diags, "a\\x00b = \\x00\n ^~~~\n") != NULL, "%s", diags);
	ck_assert_msg(strstr(diags, "a\\x00b = \\x00\n         ^~~~\n") != NULL, "%s", diags);
	ck_assert_str_eq(tokens, "1:1-1:2 identifier 'a'\n"
	                         "1:3-1:4 identifier 'b'\n"
	                         "1:5-1:6 punct '='\n"
	                         "1:8-2:1 newline\n");
	free(tokens);
	free(diags);
	/* and through the parser and sema */
	UnitRun *u = unit_compile_n(src, sizeof src - 1, NULL, 0);
	ck_assert_int_gt(u->nerrors, 0);
	unit_free(u);
}
END_TEST

START_TEST(non_ascii_bytes)
{
	/* "é" in UTF-8, then a Latin-1 byte, DEL and a control character:
	 * each reported (a UTF-8 sequence may be reported as one character),
	 * and the tokens around them kept */
	static const char src[] = "x = \xc3\xa9 + y\n\xe9\x7f\x01\n";
	char *tokens, *diags;
	int n = unit_lex(src, &tokens, &diags);
	ck_assert_int_ge(n, 4);
	ck_assert_int_le(n, 5);
	ck_assert_msg(strstr(diags, "test.tra:1:5: error: unexpected character '\xc3\xa9' (U+00E9)")
	              != NULL, "%s", diags);
	ck_assert_msg(strstr(diags, "test.tra:2:1: error: invalid UTF-8 byte '\\xE9'") != NULL, "%s", diags);
	ck_assert_msg(strstr(diags, "test.tra:2:2: error: unexpected control character '\\x7F' (delete)")
	              != NULL, "%s", diags);
	ck_assert_msg(strstr(diags, "test.tra:2:3: error: unexpected control character '\\x01'")
	              != NULL, "%s", diags);
	ck_assert_str_eq(tokens, "1:1-1:2 identifier 'x'\n"
	                         "1:3-1:4 punct '='\n"
	                         "1:7-1:8 punct '+'\n"
	                         "1:9-1:10 identifier 'y'\n"
	                         "1:10-2:1 newline\n"
	                         "2:4-3:1 newline\n");
	free(tokens);
	free(diags);
	UnitRun *u = unit_compile(src);
	ck_assert_int_gt(u->nerrors, 0);
	unit_free(u);
}
END_TEST

START_TEST(every_byte)
{
	/* each byte value between two letters: no crash, an error exactly
	 * for bytes the language does not know, and never the byte itself
	 * in the messages unless it is printable ASCII */
	for (int c = 0; c < 256; c++) {
		char src[] = "x = a?b\n";
		size_t len = sizeof src - 1;
		src[5] = (char)c;
		char *tokens, *diags;
		int n = unit_lex_n(src, len, &tokens, &diags);
		bool known = c != 0 && strchr("0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                                "abcdefghijklmnopqrstuvwxyz \t\r\f\v\n#+-*/<>=,;:()[]^", c);
		/* "a.b" is 'a' and the malformed number ".b" */
		ck_assert_msg((n > 0) != known, "byte 0x%02x: %d errors", c, n);
		if (c != '\n' && c != '\t' && (c < 0x20 || c >= 0x7f))
			ck_assert_msg(memchr(diags, c, strlen(diags)) == NULL, "byte 0x%02x echoed:\n%s", c, diags);
		free(tokens);
		free(diags);
		UnitRun *u = unit_compile_n(src, len, NULL, 0);
		unit_free(u);
	}
}
END_TEST

START_TEST(long_and_deep)
{
	/* deep nesting beyond the scanner's remembered brackets and a long
	 * identifier are handled */
	enum { DEPTH = 200 };
	char src[2 * DEPTH + 64];
	size_t p = (size_t)sprintf(src, "x = ");
	for (int i = 0; i < DEPTH; i++)
		src[p++] = '(';
	src[p++] = '1';
	for (int i = 0; i < DEPTH; i++)
		src[p++] = ')';
	src[p] = '\0';
	char *tokens, *diags;
	ck_assert_int_eq(unit_lex(src, &tokens, &diags), 0);
	ck_assert_int_eq(unit_count(tokens, "punct '('"), DEPTH);
	free(tokens);
	free(diags);
	char name[1100];
	memset(name, 'a', 1000);
	strcpy(name + 1000, " = 1\n");
	ck_assert_int_eq(unit_lex(name, &tokens, &diags), 0);
	ck_assert_ptr_nonnull(strstr(tokens, "1:1-1:1001 identifier 'aaaa"));
	free(tokens);
	free(diags);
}
END_TEST

/* ---- encodings, invisible characters, line ends ---------------------------------- */

/* Asserts that diags holds no byte outside printable ASCII but newlines:
 * nothing raw from the source is echoed. */
static void assert_escaped(const char *diags)
{
	for (const char *p = diags; *p; p++)
		ck_assert_msg(*p == '\n' || (*p >= 0x20 && *p < 0x7f), "byte 0x%02x echoed in:\n%s",
		              (unsigned char)*p, diags);
}

/* Asserts that the diagnostics of src (with nerr lexical errors) contain want. */
static void assert_diags(const char *src, int nerr, const char *want)
{
	char *tokens, *diags;
	int n = unit_lex(src, &tokens, &diags);
	ck_assert_msg(n == nerr, "'%s': %d lexical errors, expected %d:\n%s", src, n, nerr, diags);
	ck_assert_msg(strstr(diags, want) != NULL, "no\n%s\nin:\n%s", want, diags);
	free(tokens);
	free(diags);
}

START_TEST(byte_order_mark)
{
	/* skipped at the start: the same tokens and columns as without it */
	assert_tokens("\xEF\xBB\xBFsize N\n",
	              "1:1-1:5 keyword 'size'\n"
	              "1:6-1:7 identifier 'N'\n"
	              "1:7-2:1 newline\n");
	assert_tokens("\xEF\xBB\xBF", "");
	/* the line under a message on line 1 leaves it out, so the caret lines up */
	assert_diags("\xEF\xBB\xBFx = @\n", 1, "test.tra:1:5: error: unexpected character '@'\n"
	             "x = @\n    ^\n");
	/* anywhere else it is an error */
	assert_lex_error("x\n\xEF\xBB\xBFy", 1, "test.tra:2:1:", "unexpected byte order mark (U+FEFF); "
	                 "one is allowed only at the start of the file");
	assert_lex_error("\xEF\xBB\xBF\xEF\xBB\xBFx", 1, "test.tra:1:1:", "unexpected byte order mark");
	assert_diags("x \xEF\xBB\xBF\n", 1, "x <U+FEFF>\n  ^~~~~~~~\n");
}
END_TEST

START_TEST(invisible_characters)
{
	assert_lex_error("a\xE2\x80\x8B = 1", 1, "test.tra:1:2:",
	                 "unexpected invisible character U+200B (zero width space)");
	assert_lex_error("a =\xC2\xA0" "1", 1, "test.tra:1:4:",
	                 "unexpected space character U+00A0 (no-break space); use a plain space");
	assert_lex_error("a = \xE3\x80\x80" "1", 1, "test.tra:1:5:",
	                 "unexpected space character U+3000 (ideographic space)");
	assert_lex_error("a = \xE2\x80\xAE" "1", 1, "test.tra:1:5:",
	                 "unexpected invisible character U+202E (right-to-left override)");
	assert_lex_error("a = 1\xE2\x81\xA0", 1, "test.tra:1:6:",
	                 "unexpected invisible character U+2060 (word joiner)");
	assert_lex_error("a = \xF3\xA0\x80\x81", 1, "test.tra:1:5:",
	                 "unexpected invisible character U+E0001 (tag character)");
	assert_lex_error("a = \xC2\x85", 1, "test.tra:1:5:", "unexpected control character U+0085");
	/* the line under a message shows each as <U+XXXX>, the caret follows,
	 * and the column counts it as one character */
	assert_diags("x\xE2\x80\x8B = @\n", 2, "test.tra:1:6: error: unexpected character '@'\n"
	             "x<U+200B> = @\n            ^\n");
	assert_diags("x\xE2\x80\x8B = @\n", 2, "x<U+200B> = @\n ^~~~~~~~\n");
}
END_TEST

START_TEST(look_alike_characters)
{
	assert_lex_error("a = b \xE2\x88\x92 c", 1, "test.tra:1:7:",
	                 "unexpected character '\xE2\x88\x92' (U+2212 minus sign); use '-'");
	assert_lex_error("a = b \xC3\x97 c", 1, "test.tra:1:7:",
	                 "unexpected character '\xC3\x97' (U+00D7 multiplication sign); use '*'");
	assert_lex_error("a = b\xC2\xB2", 1, "test.tra:1:6:",
	                 "unexpected character '\xC2\xB2' (U+00B2 superscript two); use pow(x, 2)");
	assert_lex_error("a = \xCE\xB1", 1, "test.tra:1:5:", "unexpected character '\xCE\xB1' (U+03B1)");
}
END_TEST

START_TEST(invalid_utf8)
{
	/* named by their bytes, escaped: a sequence cut short, a byte that
	 * starts nothing, and sequences that are well formed but not allowed */
	assert_lex_error("a = \xE2\x80", 1, "test.tra:1:5:", "truncated UTF-8 sequence '\\xE2\\x80'");
	assert_lex_error("a = \xE2\x80" "b", 1, "test.tra:1:5:", "truncated UTF-8 sequence '\\xE2\\x80'");
	assert_lex_error("a = \xF0\x9F\x98", 1, "test.tra:1:5:", "truncated UTF-8 sequence '\\xF0\\x9F\\x98'");
	assert_lex_error("a = \xE9t\xE9", 2, "test.tra:1:7:", "invalid UTF-8 byte '\\xE9'");
	assert_lex_error("a = \x80\x80", 1, "test.tra:1:5:", "invalid UTF-8 sequence '\\x80\\x80'");
	assert_lex_error("a = \xC0\xAF", 1, "test.tra:1:5:", "invalid UTF-8 sequence '\\xC0\\xAF'");
	assert_lex_error("a = \xED\xA0\x80", 1, "test.tra:1:5:", "invalid UTF-8 sequence '\\xED\\xA0\\x80'");
	assert_lex_error("a = \xF4\x90\x80\x80", 1, "test.tra:1:5:",
	                 "invalid UTF-8 sequence '\\xF4\\x90\\x80\\x80'");
	assert_lex_error("a = \xFF", 1, "test.tra:1:5:", "invalid UTF-8 byte '\\xFF'");
	/* a valid character, then a stray continuation byte: two errors */
	assert_lex_error("a = \xC3\xA9\x80", 2, "test.tra:1:6:", "invalid UTF-8 byte '\\x80'");
	/* nothing raw in the messages or the lines under them, and the caret
	 * under an escape covers it */
	static const char *const bad[] = {"a = \xE2\x80 b", "\xE9\xE9\xE9", "a\x80" "b = \xF8\x88\x80\x80\x80"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *tokens, *diags;
		ck_assert_int_gt(unit_lex(bad[i], &tokens, &diags), 0);
		assert_escaped(diags);
		free(tokens);
		free(diags);
	}
	assert_diags("a = \xE2\x80 @\n", 2, "a = \\xE2\\x80 @\n    ^~~~~~~~\n");
	assert_diags("a = \xE2\x80 @\n", 2, "test.tra:1:8: error: unexpected character '@'\n"
	             "a = \\xE2\\x80 @\n             ^\n");
	/* in a comment, anything goes */
	assert_tokens("# caf\xE9 \x01 \xE2\x80\n", "1:12-2:1 newline\n"); /* a bad byte is a column */
}
END_TEST

START_TEST(control_characters)
{
	assert_lex_error("a = \x01", 1, "test.tra:1:5:", "unexpected control character '\\x01'");
	assert_lex_error("a = 1\x1B[A", 1, "test.tra:1:6:", "unexpected control character '\\x1B' (escape)");
	assert_lex_error("a = \x7F", 1, "test.tra:1:5:", "unexpected control character '\\x7F' (delete)");
	assert_lex_error("a = \x08", 1, "test.tra:1:5:", "unexpected control character '\\x08' (backspace)");
	/* escaped in the line under the message, with the caret after it */
	assert_diags("\x07x = @\n", 2, "\\x07x = @\n        ^\n");
	/* a tab is a blank: the caret line copies it, so the marks line up */
	assert_diags("\tx =\t@\n", 1, "\tx =\t@\n\t   \t^\n");
}
END_TEST

START_TEST(lone_cr_line_ends)
{
	/* LF, CRLF and a lone CR all end a line */
	assert_tokens("a\rb\r\nc\n\rd",
	              "1:1-1:2 identifier 'a'\n"
	              "1:2-2:1 newline\n"
	              "2:1-2:2 identifier 'b'\n"
	              "2:3-3:1 newline\n"
	              "3:1-3:2 identifier 'c'\n"
	              "3:2-4:1 newline\n"
	              "4:1-5:1 newline\n"
	              "5:1-5:2 identifier 'd'\n"
	              "5:2-5:2 newline\n");
	/* a comment ends at one */
	assert_tokens("# c\rx", "1:4-2:1 newline\n2:1-2:2 identifier 'x'\n2:2-2:2 newline\n");
	/* in a file of CR line ends, a message has its line and shows it alone */
	assert_diags("a = 1\rb = @\rc = 2\r", 1, "test.tra:2:5: error: unexpected character '@'\n"
	             "b = @\n    ^\n");
	/* inside brackets a lone CR is swallowed like an LF */
	assert_tokens("(a\rb)", "1:1-1:2 punct '('\n1:2-1:3 identifier 'a'\n2:1-2:2 identifier 'b'\n"
	              "2:2-2:3 punct ')'\n2:3-2:3 newline\n");
}
END_TEST

START_TEST(columns_count_characters)
{
	/* two- and three-byte characters before a token count one column each */
	assert_diags("x\xC3\xA9\xE2\x88\x92 @\n", 3, "test.tra:1:5: error: unexpected character '@'\n"
	             "x\xC3\xA9\xE2\x88\x92 @\n    ^\n");
	UnitRun *u = unit_parse("# \xC3\xA9\xC3\xA9\nsize N = 1\n");
	int line, col;
	diag_line_col(&u->src, u->prog.st[0].name_span.lo, &line, &col);
	ck_assert_int_eq(line, 2);
	ck_assert_int_eq(col, 6);
	diag_line_col(&u->src, 6, &line, &col); /* after "# éé" */
	ck_assert_int_eq(line, 1);
	ck_assert_int_eq(col, 5);
	unit_free(u);
}
END_TEST

START_TEST(operators_tra_lacks)
{
	/* ** and ^ are tokens, so that the parser can show pow(a, b) */
	assert_tokens("a ** b ^ c",
	              "1:1-1:2 identifier 'a'\n"
	              "1:3-1:5 operator '**'\n"
	              "1:6-1:7 identifier 'b'\n"
	              "1:8-1:9 operator '^'\n"
	              "1:10-1:11 identifier 'c'\n"
	              "1:11-1:11 newline\n");
	assert_tokens("a * * b", "1:1-1:2 identifier 'a'\n1:3-1:4 punct '*'\n1:5-1:6 punct '*'\n"
	              "1:7-1:8 identifier 'b'\n1:8-1:8 newline\n");
	/* the others say what to write */
	assert_lex_error("a && b", 1, "test.tra:1:3:", "'&&' is not an operator; select takes one "
	                 "comparison, so for 'a and b' nest two: select(a, select(b, x, y), y)");
	assert_lex_error("a & b", 1, "test.tra:1:3:", "'&' is not an operator");
	assert_lex_error("a || b", 1, "test.tra:1:3:", "'||' is not an operator; select takes one "
	                 "comparison, so for 'a or b' nest two: select(a, x, select(b, x, y))");
	assert_lex_error("a | b", 1, "test.tra:1:3:", "'|' is not an operator");
	assert_lex_error("!a", 1, "test.tra:1:1:", "'!' is not an operator; write the opposite "
	                 "comparison (>= for <, != for ==), or swap the last two arguments of select");
	assert_tokens("a != b", "1:1-1:2 identifier 'a'\n1:3-1:5 operator '!='\n"
	              "1:6-1:7 identifier 'b'\n1:7-1:7 newline\n");
}
END_TEST

/* "x = " and depth brackets of kind open/close around "1", then more. */
static char *nested_source(int depth, char open, char close, const char *more)
{
	char *src = malloc((size_t)(2 * depth) + strlen(more) + 16);
	size_t p = (size_t)sprintf(src, "x = ");
	memset(src + p, open, (size_t)depth);
	p += (size_t)depth;
	src[p++] = '1';
	memset(src + p, close, (size_t)depth);
	strcpy(src + p + (size_t)depth, more);
	return src;
}

START_TEST(bracket_nesting_limit)
{
	char *tokens, *diags;
	/* at the limit: every bracket a token */
	char *src = nested_source(PARSE_MAX_NESTING, '(', ')', "\n");
	ck_assert_int_eq(unit_lex(src, &tokens, &diags), 0);
	ck_assert_int_eq(unit_count(tokens, "punct '('"), PARSE_MAX_NESTING);
	ck_assert_int_eq(unit_count(tokens, "punct ')'"), PARSE_MAX_NESTING);
	free(tokens), free(diags), free(src);
	/* one more: one error there, and the rest of the statement, up to
	 * the line end after its brackets close, is skipped */
	src = nested_source(PARSE_MAX_NESTING + 1, '[', ']', "\n+ 2\ny\n");
	ck_assert_int_eq(unit_lex(src, &tokens, &diags), 1);
	char where[128];
	snprintf(where, sizeof where, "test.tra:1:%d: error: expression nested too deeply: more "
	         "than %d levels of brackets", 5 + PARSE_MAX_NESTING, PARSE_MAX_NESTING);
	ck_assert_msg(strstr(diags, where) != NULL, "%s", diags);
	ck_assert_int_eq(unit_count(tokens, "punct '['"), PARSE_MAX_NESTING);
	ck_assert_int_eq(unit_count(tokens, "punct ']'"), 0);
	ck_assert_ptr_nonnull(strstr(tokens, "newline\n2:1-2:2 punct '+'"));
	ck_assert_ptr_nonnull(strstr(tokens, "3:1-3:2 identifier 'y'\n"));
	free(tokens), free(diags), free(src);
	/* far deeper, over several lines: still one error */
	src = nested_source(100000, '(', ')', "\ny\n");
	for (int i = 10000; i < 200000; i += 10000)
		src[i] = '\n';
	ck_assert_int_eq(unit_lex(src, &tokens, &diags), 1);
	ck_assert_ptr_nonnull(strstr(tokens, "identifier 'y'\n"));
	free(tokens), free(diags), free(src);
}
END_TEST

static Suite *lexer_suite(void)
{
	Suite *s = suite_create("lexer");
	TCase *tc = tcase_create("tokens");
	tcase_add_test(tc, keywords_and_identifiers);
	tcase_add_test(tc, every_keyword);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, number_values);
	tcase_add_test(tc, number_then_operator);
	tcase_add_test(tc, comments);
	tcase_add_test(tc, comment_only_file);
	tcase_add_test(tc, operators);
	tcase_add_test(tc, punctuation);
	suite_add_tcase(s, tc);
	tc = tcase_create("statement ends");
	tcase_add_test(tc, newline_inside_brackets);
	tcase_add_test(tc, newline_nested_brackets);
	tcase_add_test(tc, newline_outside_brackets);
	tcase_add_test(tc, semicolon_ends_statement);
	tcase_add_test(tc, no_final_newline);
	tcase_add_test(tc, blanks_and_crlf);
	tcase_add_test(tc, token_spans);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, stray_character);
	tcase_add_test(tc, malformed_numbers);
	tcase_add_test(tc, number_too_large);
	tcase_add_test(tc, errors_are_counted);
	tcase_add_test(tc, nul_bytes);
	tcase_add_test(tc, non_ascii_bytes);
	tcase_add_test(tc, every_byte);
	tcase_add_test(tc, long_and_deep);
	suite_add_tcase(s, tc);
	tc = tcase_create("text");
	tcase_add_test(tc, byte_order_mark);
	tcase_add_test(tc, invisible_characters);
	tcase_add_test(tc, look_alike_characters);
	tcase_add_test(tc, invalid_utf8);
	tcase_add_test(tc, control_characters);
	tcase_add_test(tc, lone_cr_line_ends);
	tcase_add_test(tc, columns_count_characters);
	tcase_add_test(tc, operators_tra_lacks);
	tcase_add_test(tc, bracket_nesting_limit);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(lexer_suite)
