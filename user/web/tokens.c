/* Static token file: see tokens.h. Format as kube-apiserver reads --token-auth-file
 * (encoding/csv, at least three fields, groups as one comma-separated field). */
#include "tokens.h"
#include "buf.h"
#include "log.h"
#include "vec.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

struct token_entry {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	struct identity id;
	int line; /* where the file lists it */
};

struct token_entries {
	struct token_entry *items;
	size_t n;
};

struct token_file {
	char *path;
	pthread_mutex_t lock;
	struct token_entries *entries;
	struct stat last;
	time_t last_check;
	atomic_ullong reloads_ok, reloads_failed;
};

size_t tokens_count(const struct token_entries *entries)
{
	return entries ? entries->n : 0;
}

void tokens_entries_free(struct token_entries *entries)
{
	if (!entries)
		return;
	for (size_t i = 0; i < entries->n; i++) {
		OPENSSL_cleanse(entries->items[i].digest, sizeof(entries->items[i].digest));
		identity_free(&entries->items[i].id);
	}
	free(entries->items);
	free(entries);
}

/* One CSV record (RFC 4180 quoting, as Go's encoding/csv reads it) from *p; the first max
 * fields' offsets in f go to starts. Returns the number of fields, CSV_UNTERMINATED or
 * CSV_AFTER_QUOTE. */
#define CSV_UNTERMINATED (-1)
#define CSV_AFTER_QUOTE	 (-2)

static bool at_eol(const char *s, const char *end)
{
	return s == end || *s == '\n' || (*s == '\r' && (s + 1 == end || s[1] == '\n'));
}

static int csv_record(const char **p, const char *end, struct buf *f, size_t *starts, int max)
{
	const char *s = *p;
	int n = 0;

	buf_reset(f);
	for (;;) {
		size_t field = f->len;

		if (n < max)
			starts[n] = field;
		n++;
		if (s < end && *s == '"') {
			for (s++;; s++) {
				if (s >= end)
					return CSV_UNTERMINATED;
				if (*s == '"' && s + 1 < end && s[1] == '"')
					buf_putc(f, *s++);
				else if (*s == '"')
					break;
				else
					buf_putc(f, *s);
			}
			s++;
			/* After a closing quote only a separator or the end of the line may come. */
			if (!(s < end && *s == ',') && !at_eol(s, end))
				return CSV_AFTER_QUOTE;
		} else {
			/* Leading blanks are trimmed, as with csv.Reader.TrimLeadingSpace. */
			for (; s < end && *s != ',' && !at_eol(s, end); s++) {
				if (!(f->len == field && (*s == ' ' || *s == '\t')))
					buf_putc(f, *s);
			}
		}
		buf_putc(f, 0);
		if (s < end && *s == ',') {
			s++;
			while (s < end && (*s == ' ' || *s == '\t'))
				s++;
			continue;
		}
		if (s < end && *s == '\r')
			s++;
		if (s < end && *s == '\n')
			s++;
		*p = s;
		return n;
	}
}

static int count_lines(const char *from, const char *to)
{
	int n = 0;

	for (; from < to; from++)
		n += *from == '\n';
	return n;
}

static int add_entry(struct token_entries *e, int line, const char *token, const char *user,
		     const char *uid, const char *groups)
{
	struct token_entry *t = ARRAY_PUSH(e->items, e->n);
	const char *g = groups;

	if (!t)
		return -ENOMEM;
	t->line = line;
	SHA256((const unsigned char *)token, strlen(token), t->digest);
	if (identity_set(&t->id, user, uid))
		return -ENOMEM;
	e->n++;
	while (g && *g) {
		const char *comma = strchr(g, ',');
		size_t len = comma ? (size_t)(comma - g) : strlen(g);
		char *name;
		int err;

		while (len && *g == ' ') {
			g++;
			len--;
		}
		if (len) {
			name = strndup(g, len);
			err = name ? identity_add_group(&t->id, name) : -ENOMEM;
			free(name);
			if (err)
				return -ENOMEM;
		}
		g = comma ? comma + 1 : NULL;
	}
	return 0;
}

static int by_digest_then_line(const void *a, const void *b)
{
	const struct token_entry *x = *(const struct token_entry *const *)a;
	const struct token_entry *y = *(const struct token_entry *const *)b;
	int c = memcmp(x->digest, y->digest, sizeof(x->digest));

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* A token listed twice would silently take the identity of its last line: refused, with
 * the first line that repeats an earlier one (the token itself is never written out). */
static int refuse_duplicates(const char *name, const struct token_entries *e, char *err,
			     size_t err_size)
{
	const struct token_entry **sorted;
	const struct token_entry *again = NULL, *first = NULL;

	if (e->n < 2)
		return 0;
	sorted = calloc(e->n, sizeof(*sorted));
	if (!sorted) {
		snprintf(err, err_size, "%s:%d: out of memory", name, e->items[e->n - 1].line);
		return -ENOMEM;
	}
	for (size_t i = 0; i < e->n; i++)
		sorted[i] = &e->items[i];
	qsort(sorted, e->n, sizeof(*sorted), by_digest_then_line);
	for (size_t i = 1; i < e->n; i++) {
		if (!memcmp(sorted[i - 1]->digest, sorted[i]->digest, SHA256_DIGEST_LENGTH) &&
		    (!again || sorted[i]->line < again->line)) {
			again = sorted[i];
			first = sorted[i - 1];
			while (i + 1 < e->n && !memcmp(sorted[i]->digest, sorted[i + 1]->digest,
						       SHA256_DIGEST_LENGTH))
				i++; /* the rest of this token's lines come later */
		}
	}
	free(sorted);
	if (!again)
		return 0;
	snprintf(err, err_size, "%s:%d: the same token as line %d: each token may be listed once",
		 name, again->line, first->line);
	return -EINVAL;
}

int tokens_parse(const char *name, const char *text, size_t len, struct token_entries **out,
		 char *err, size_t err_size)
{
	struct token_entries *e = calloc(1, sizeof(*e));
	const char *p = text, *end = text + len;
	size_t starts[4];
	struct buf f;
	int line = 0, ret = 0;

	if (!e)
		return -ENOMEM;
	if (memchr(text, 0, len)) {
		snprintf(err, err_size, "%s: contains a NUL byte", name);
		free(e);
		return -EINVAL;
	}
	buf_init(&f);
	while (p < end) {
		const char *start = p;
		int n;

		line++;
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			p += *p == '\n' ? 1 : 2; /* blank lines are skipped, as csv.Reader does */
			continue;
		}
		n = csv_record(&p, end, &f, starts, 4);
		if (n < 0 || f.failed) {
			snprintf(err, err_size, "%s:%d: %s", name, line,
				 n == CSV_UNTERMINATED	? "unterminated quoted field"
				 : n == CSV_AFTER_QUOTE ? "text after a closing quote"
							: "out of memory");
			ret = n < 0 ? -EINVAL : -ENOMEM;
			break;
		}
		/* A quoted field may span lines: the next record starts further down. */
		if (count_lines(start, p) > 1)
			line += count_lines(start, p) - 1;
		if (n < 3) {
			snprintf(err, err_size,
				 "%s:%d: expected at least 3 columns (token, user name, user uid), "
				 "found %d",
				 name, line, n);
			ret = -EINVAL;
			break;
		}
		if (!f.data[starts[0]] || !f.data[starts[1]]) {
			snprintf(err, err_size, "%s:%d: empty %s", name, line,
				 f.data[starts[0]] ? "user name" : "token");
			ret = -EINVAL;
			break;
		}
		ret = add_entry(e, line, f.data + starts[0], f.data + starts[1], f.data + starts[2],
				n > 3 ? f.data + starts[3] : NULL);
		if (ret) {
			snprintf(err, err_size, "%s:%d: out of memory", name, line);
			break;
		}
	}
	buf_free(&f);
	if (!ret)
		ret = refuse_duplicates(name, e, err, err_size);
	if (ret) {
		tokens_entries_free(e);
		return ret;
	}
	*out = e;
	return 0;
}

static int load(const char *path, struct token_entries **out, struct stat *st, char *err,
		size_t err_size)
{
	struct buf text;
	char chunk[4096];
	size_t n;
	FILE *fp = fopen(path, "re");
	int ret;

	if (!fp) {
		ret = -errno;
		snprintf(err, err_size, "%s: cannot open the static tokens file: %s", path,
			 strerror(errno));
		return ret;
	}
	if (fstat(fileno(fp), st)) {
		ret = -errno;
		fclose(fp);
		return ret;
	}
	buf_init(&text);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && text.len < (1 << 24))
		buf_append(&text, chunk, n);
	fclose(fp);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (text.failed || text.len >= (1 << 24)) {
		snprintf(err, err_size, "%s: larger than 16 MiB or out of memory", path);
		ret = -EFBIG;
	} else {
		ret = tokens_parse(path, text.data ? text.data : "", text.len, out, err, err_size);
	}
	if (text.data)
		OPENSSL_cleanse(text.data, text.len); /* the tokens in clear */
	buf_free(&text);
	return ret;
}

int tokens_open(const char *path, struct token_file **out, char *err, size_t err_size)
{
	struct token_file *tf = calloc(1, sizeof(*tf));
	int ret;

	if (!tf)
		return -ENOMEM;
	pthread_mutex_init(&tf->lock, NULL);
	tf->path = strdup(path);
	ret = tf->path ? load(path, &tf->entries, &tf->last, err, err_size) : -ENOMEM;
	if (ret) {
		tokens_close(tf);
		return ret;
	}
	tf->last_check = time(NULL);
	*out = tf;
	return 0;
}

void tokens_close(struct token_file *tf)
{
	if (!tf)
		return;
	tokens_entries_free(tf->entries);
	pthread_mutex_destroy(&tf->lock);
	free(tf->path);
	free(tf);
}

static void maybe_reload(struct token_file *tf)
{
	struct token_entries *fresh;
	struct stat st;
	char err[512];
	time_t now = time(NULL);

	if (now == tf->last_check)
		return;
	tf->last_check = now;
	if (stat(tf->path, &st) == 0 && st.st_ino == tf->last.st_ino &&
	    st.st_size == tf->last.st_size && st.st_mtim.tv_sec == tf->last.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == tf->last.st_mtim.tv_nsec)
		return;
	if (load(tf->path, &fresh, &st, err, sizeof(err))) {
		atomic_fetch_add(&tf->reloads_failed, 1);
		log_warn("cannot reload the static tokens, keeping the previous ones: %s", err);
		memset(&tf->last, 0, sizeof(tf->last));
		return;
	}
	tokens_entries_free(tf->entries);
	tf->entries = fresh;
	tf->last = st;
	atomic_fetch_add(&tf->reloads_ok, 1);
	log_info("reloaded %zu static tokens from %s", fresh->n, tf->path);
}

int tokens_lookup(struct token_file *tf, const char *token, size_t len, struct identity *id)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	const struct token_entry *hit = NULL;
	int ret = 0;

	SHA256((const unsigned char *)token, len, digest);
	pthread_mutex_lock(&tf->lock);
	maybe_reload(tf);
	/* Every entry is compared, whatever matches, so timing says nothing of the list. */
	for (size_t i = 0; i < tf->entries->n; i++) {
		int diff = CRYPTO_memcmp(digest, tf->entries->items[i].digest, sizeof(digest));

		hit = diff ? hit : &tf->entries->items[i];
	}
	if (hit)
		ret = identity_copy(id, &hit->id) ? -ENOMEM : 1;
	pthread_mutex_unlock(&tf->lock);
	OPENSSL_cleanse(digest, sizeof(digest));
	return ret;
}

void tokens_collect(struct token_file *tf, struct expo *e)
{
	struct label l = { "result", "success" };

	expo_family(e, "ctrlscope_static_tokens_reloads_total", "counter",
		    "Reloads of the static tokens file after it changed, by result.");
	expo_u64(e, &l, 1, atomic_load(&tf->reloads_ok));
	l.value = "failure";
	expo_u64(e, &l, 1, atomic_load(&tf->reloads_failed));
}
