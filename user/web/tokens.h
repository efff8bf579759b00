/* Static bearer tokens in kube-apiserver's --token-auth-file format: one CSV record per
 * line, "token,user,uid" and an optional quoted "group1,group2". The file is re-read when
 * it changes; a file that cannot be read or parsed keeps the previous tokens. Tokens are
 * kept only as SHA-256 digests and compared in constant time. */
#ifndef CTRLSCOPE_TOKENS_H
#define CTRLSCOPE_TOKENS_H

#include <stddef.h>

#include "expo.h"
#include "identity.h"

struct token_file;

/* Load the file; on error -errno/-EINVAL with one line in err. */
int tokens_open(const char *path, struct token_file **out, char *err, size_t err_size);
void tokens_close(struct token_file *tf);
/* 1 and the identity when token is listed, 0 when not, -ENOMEM. */
int tokens_lookup(struct token_file *tf, const char *token, size_t len, struct identity *id);
void tokens_collect(struct token_file *tf, struct expo *e);

/* Exposed for tests and fuzzing: parse text into entries (an opaque list), or -EINVAL
 * naming the file and line in err. */
struct token_entries;
int tokens_parse(const char *name, const char *text, size_t len, struct token_entries **out,
		 char *err, size_t err_size);
size_t tokens_count(const struct token_entries *entries);
void tokens_entries_free(struct token_entries *entries);

#endif
