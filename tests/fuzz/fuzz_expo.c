/* libFuzzer target for the exposition writer's escaping (user/lib/expo.c): label values and
 * help text are attacker-controlled (process names), so whatever the bytes, the output must
 * be valid UTF-8, one line per sample, and must unescape back to the input with each
 * invalid UTF-8 byte replaced by U+FFFD. A sample line written with the input as a label
 * value must parse back as exactly that one sample, and every line of a histogram with it
 * as a label value must carry it. Not for the HTTP side (server.c). */
#include "buf.h"
#include "expo.h"
#include "check.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAMILY "ctrlscope_fuzz_total"
#define HELP   "# HELP " FAMILY " "
#define TYPE   "# TYPE " FAMILY " counter\n"

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0. Written from the table of
 * well-formed byte sequences (Unicode 15, table 3-7), independently of expo.c's decoder. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] <= 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90; /* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

static bool is_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	while (n) {
		size_t len = utf8_valid(p, n);

		if (!len)
			return false;
		p += len;
		n -= len;
	}
	return true;
}

/* The input as the exposition must carry it: invalid bytes become U+FFFD one by one. */
static void sanitize(struct buf *out, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = strlen(in);

	while (n) {
		size_t len = utf8_valid(p, n);

		if (len)
			buf_append(out, p, len);
		else
			buf_puts(out, "\xef\xbf\xbd");
		p += len ? len : 1;
		n -= len ? len : 1;
	}
}

/* Unescape s[0..n) that ends at an unescaped '"' (quoted) or at the end (help text).
 * Returns the number of bytes consumed, or aborts on anything the format does not allow. */
static size_t unescape(struct buf *out, const char *s, size_t n, bool quoted)
{
	size_t i = 0;

	while (i < n) {
		char c = s[i];

		CHECK(c != '\n');
		if (quoted && c == '"')
			return i;
		if (c != '\\') {
			buf_putc(out, c);
			i++;
			continue;
		}
		CHECK(i + 1 < n);
		if (s[i + 1] == 'n')
			buf_putc(out, '\n');
		else if (s[i + 1] == '\\' || (quoted && s[i + 1] == '"'))
			buf_putc(out, s[i + 1]);
		else
			CHECK(!"a backslash escapes \\, \" (in label values) or n");
		i += 2;
	}
	CHECK(!quoted); /* a label value must be closed */
	return i;
}

static void check_same(struct buf *got, struct buf *want)
{
	CHECK(buf_cstr(got) && buf_cstr(want));
	if (got->len != want->len || memcmp(got->data, want->data, got->len)) {
		note("unescaped", got->data, got->len);
		note("expected", want->data, want->len);
	}
	CHECK(got->len == want->len && !memcmp(got->data, want->data, got->len));
}

static void check_escape(const char *value, struct buf *want)
{
	struct buf out, back;

	buf_init(&out);
	buf_init(&back);
	expo_escape_label_value(&out, value);
	CHECK(buf_cstr(&out));
	CHECK(strlen(out.data) == out.len);
	CHECK(is_utf8(out.data, out.len));
	/* Read back as between quotes in a sample: no raw '\n', and the closing quote is the
	 * first unescaped '"'. */
	buf_putc(&out, '"');
	CHECK(buf_cstr(&out));
	CHECK(unescape(&back, out.data, out.len, true) == out.len - 1);
	check_same(&back, want);
	buf_free(&back);
	buf_free(&out);
}

/* Parse "<family>{label=\"...\"} <value>\n" strictly; returns the text of the value. */
static const char *parse_sample(const char *line, size_t len, struct buf *value)
{
	static const char prefix[] = FAMILY "{label=\"";
	size_t used;

	CHECK(len > sizeof(prefix) - 1 && !memcmp(line, prefix, sizeof(prefix) - 1));
	line += sizeof(prefix) - 1;
	len -= sizeof(prefix) - 1;
	used = unescape(value, line, len, true);
	CHECK(len - used >= 3 && !memcmp(line + used, "\"} ", 3));
	line += used + 3;
	len -= used + 3;
	CHECK(len >= 2 && line[len - 1] == '\n' && !memchr(line, '\n', len - 1));
	return line;
}

static void check_u64_sample(const char *value, struct buf *want, uint64_t v)
{
	struct label l = { "label", value };
	struct buf out, back;
	struct expo e;
	char num[32];
	const char *text;
	size_t help_len;

	buf_init(&out);
	buf_init(&back);
	expo_init(&e, &out);
	expo_family(&e, FAMILY, "counter", value);
	CHECK(buf_cstr(&out));
	/* # HELP: the value unescapes back, then exactly one '\n', then # TYPE. */
	CHECK(!strncmp(out.data, HELP, strlen(HELP)));
	help_len = unescape(&back, out.data + strlen(HELP), strcspn(out.data + strlen(HELP), "\n"),
			    false);
	check_same(&back, want);
	buf_free(&back);
	CHECK(!strcmp(out.data + strlen(HELP) + help_len, "\n" TYPE));
	buf_reset(&out);

	expo_u64(&e, &l, 1, v);
	CHECK(buf_cstr(&out));
	CHECK(is_utf8(out.data, out.len));
	text = parse_sample(out.data, out.len, &back);
	check_same(&back, want);
	snprintf(num, sizeof(num), "%" PRIu64 "\n", v);
	CHECK(!strcmp(text, num));
	buf_free(&back);
	buf_free(&out);
}

/* OpenMetrics: the family is named without _total, its help text escapes quotes too (no
 * raw '"' in it), samples keep _total, and the page ends in # EOF. */
static void check_openmetrics(const char *value, struct buf *want, uint64_t v)
{
	static const char help[] = "# HELP ctrlscope_fuzz ";
	struct label l = { "label", value };
	struct buf out, back, quoted;
	struct expo e;
	const char *line_end;
	size_t help_len;

	buf_init(&out);
	buf_init(&back);
	buf_init(&quoted);
	expo_init_format(&e, &out, EXPO_OPENMETRICS);
	expo_family(&e, FAMILY, "counter", value);
	CHECK(buf_cstr(&out) && !strncmp(out.data, help, strlen(help)));
	line_end = strchr(out.data + strlen(help), '\n');
	CHECK(line_end);
	help_len = (size_t)(line_end - out.data - strlen(help));
	/* Unescaped as a quoted string, the help text ends only at the quote added here. */
	buf_append(&quoted, out.data + strlen(help), help_len);
	buf_putc(&quoted, '"');
	CHECK(buf_cstr(&quoted));
	CHECK(unescape(&back, quoted.data, quoted.len, true) == help_len);
	check_same(&back, want);
	CHECK(!strcmp(line_end, "\n# TYPE ctrlscope_fuzz counter\n"));
	buf_reset(&out);
	buf_reset(&back);
	expo_u64(&e, &l, 1, v);
	CHECK(buf_cstr(&out) && is_utf8(out.data, out.len));
	parse_sample(out.data, out.len, &back);
	check_same(&back, want);
	help_len = out.len;
	expo_finish(&e);
	CHECK(buf_cstr(&out) && !strcmp(out.data + help_len, "# EOF\n"));
	buf_free(&quoted);
	buf_free(&back);
	buf_free(&out);
}

static void check_f64_sample(const char *value, struct buf *want, double v)
{
	struct label l = { "label", value };
	struct buf out, back;
	struct expo e;
	const char *text;
	char *end;
	double got;

	buf_init(&out);
	buf_init(&back);
	expo_init(&e, &out);
	e.family = FAMILY;
	expo_f64(&e, &l, 1, v);
	CHECK(buf_cstr(&out));
	text = parse_sample(out.data, out.len, &back);
	check_same(&back, want);
	/* Numbers: Go's ParseFloat syntax; "%.17g" reads back to the same double. */
	if (isnan(v)) {
		CHECK(!strcmp(text, "NaN\n"));
	} else if (isinf(v)) {
		CHECK(!strcmp(text, v > 0 ? "+Inf\n" : "-Inf\n"));
	} else {
		got = strtod(text, &end);
		CHECK(*end == '\n' && !memcmp(&got, &v, sizeof(v)));
	}
	buf_free(&back);
	buf_free(&out);
}

/* A histogram whose labels are the value twice: every line (buckets, _sum, _count) carries
 * both, escaped once and copied, and the buckets count cumulatively up to +Inf. */
static void check_histogram(const char *value, struct buf *want, uint64_t bits)
{
	static const char *const le[] = { "0.5", "1" };
	const struct label l[] = { { "a", value }, { "b", value } };
	const char *const names[] = { "_bucket", "_bucket", "_bucket", "_sum", "_count" };
	uint64_t counts[3] = { bits & 0xffff, (bits >> 16) & 0xffff, bits >> 32 }, total = 0;
	struct expo_hist h = { le, counts, 3, 2.5 };
	struct buf out, back;
	struct expo e;
	const char *p, *end;

	buf_init(&out);
	expo_init(&e, &out);
	e.family = "h";
	expo_histogram(&e, l, 2, &h);
	CHECK(buf_cstr(&out));
	CHECK(is_utf8(out.data, out.len));
	p = out.data;
	end = out.data + out.len;
	for (size_t line = 0; line < 5; line++) {
		char num[32];
		size_t used;

		CHECK(!strncmp(p, "h", 1) && !strncmp(p + 1, names[line], strlen(names[line])));
		p += 1 + strlen(names[line]);
		for (int k = 0; k < 2; k++) {
			CHECK(!strncmp(p, k ? ",b=\"" : "{a=\"", 4));
			p += 4;
			buf_init(&back);
			used = unescape(&back, p, (size_t)(end - p), true);
			check_same(&back, want);
			buf_free(&back);
			p += used + 1;
		}
		if (line < 3) {
			total += counts[line];
			snprintf(num, sizeof(num), ",le=\"%s\"} %" PRIu64 "\n",
				 line < 2 ? le[line] : "+Inf", total);
		} else if (line == 3) {
			snprintf(num, sizeof(num), "} 2.5\n");
		} else {
			snprintf(num, sizeof(num), "} %" PRIu64 "\n", total);
		}
		CHECK((size_t)(end - p) >= strlen(num) && !strncmp(p, num, strlen(num)));
		p += strlen(num);
	}
	CHECK(p == end);
	buf_free(&out);
}

/* expo_format_pow2_ns: 2^exp ns (exp capped at 63) as an exact decimal, truncated to size. */
static void check_pow2(unsigned int exp, size_t size)
{
	char out[40], want[40], digits[24];
	uint64_t ns = 1ULL << (exp > 63 ? 63 : exp);
	int frac = 9;

	snprintf(digits, sizeof(digits), "%09" PRIu64, ns % 1000000000);
	while (frac > 0 && digits[frac - 1] == '0')
		frac--;
	snprintf(want, sizeof(want), "%" PRIu64 "%s%.*s", ns / 1000000000, frac ? "." : "", frac,
		 digits);
	memset(out, 'x', sizeof(out));
	expo_format_pow2_ns(out, size, exp);
	if (size) {
		CHECK(memchr(out, 0, size));
		CHECK(!strncmp(out, want, size - 1) && strlen(out) == strnlen(want, size - 1));
	}
	for (size_t i = size; i < sizeof(out); i++)
		CHECK(out[i] == 'x');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);
	struct buf want;
	uint64_t bits = 0;
	double d;

	CHECK(value);
	memcpy(value, data, size);
	value[size] = 0;
	memcpy(&bits, data, size < sizeof(bits) ? size : sizeof(bits));
	memcpy(&d, &bits, sizeof(d));

	buf_init(&want);
	sanitize(&want, value);
	check_escape(value, &want);
	check_u64_sample(value, &want, bits);
	check_openmetrics(value, &want, bits);
	check_f64_sample(value, &want, d);
	check_histogram(value, &want, bits);
	check_pow2(size ? data[0] : 0, size > 1 ? data[1] % 32 : 32);
	buf_free(&want);
	free(value);
	return 0;
}
