/* test_lexer.c: Check tests for the scanner (grammar/lexer.l).
 *
 * The scanner is tested through lex_dump_tokens, the function behind
 * `trac --emit=tokens`: one line per token, "L:C-L:C kind 'text'", so
 * each test compares the whole token stream of a small source with the
 * lines it expects. Number values, which the dump does not show, are
 * read back from the AST. The error tests count lexical errors and look
 * for their messages; the last ones feed bytes that are not text (NUL,
 * UTF-8, stray control characters) and ask only for errors, not crashes.
 */
#include "unit.h"

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
	/* tabs, carriage returns, form feeds are blanks; columns count bytes */
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
	assert_lex_error("a ! b", 1, "test.tra:1:3:", "unexpected character '!'");
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
	ck_assert_int_eq(unit_count(diags, "unexpected byte 0x00"), 3);
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
	ck_assert_msg(strstr(diags, "test.tra:1:5: error: unexpected") != NULL, "%s", diags);
	ck_assert_msg(strstr(diags, "test.tra:2:1: error: unexpected byte 0xe9") != NULL, "%s", diags);
	ck_assert_msg(strstr(diags, "test.tra:2:2: error: unexpected byte 0x7f") != NULL, "%s", diags);
	ck_assert_msg(strstr(diags, "test.tra:2:3: error: unexpected byte 0x01") != NULL, "%s", diags);
	ck_assert_str_eq(tokens, "1:1-1:2 identifier 'x'\n"
	                         "1:3-1:4 punct '='\n"
	                         "1:8-1:9 punct '+'\n"
	                         "1:10-1:11 identifier 'y'\n"
	                         "1:11-2:1 newline\n"
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
	/* each byte value between two letters: no crash, and an error
	 * exactly for bytes the language does not know */
	for (int c = 0; c < 256; c++) {
		char src[] = "x = a?b\n";
		size_t len = sizeof src - 1;
		src[5] = (char)c;
		char *tokens, *diags;
		int n = unit_lex_n(src, len, &tokens, &diags);
		bool known = c != 0 && strchr("0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                                "abcdefghijklmnopqrstuvwxyz \t\r\f\v\n#+-*/<>=,;()[]", c);
		/* "a.b" is 'a' and the malformed number ".b" */
		ck_assert_msg((n > 0) != known, "byte 0x%02x: %d errors", c, n);
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
	return s;
}

UNIT_MAIN(lexer_suite)
