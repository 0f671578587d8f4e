/*
 * deliver_suppress.h: the suppression check with xd-verify right before a
 * delivery (an opt-out can arrive while a message waits). One
 * CheckRecipients call per message and destination (at most 1000
 * addresses). When verify cannot answer within the deadline the caller
 * postpones (fail closed: never send to a possibly opted-out address).
 * Built against proto/verify.proto when it is present; without it the check
 * answers "unreachable".
 * Memory: the checker owns its RPC client. Thread-safety: any thread.
 */
#ifndef SND_DELIVER_SUPPRESS_H
#define SND_DELIVER_SUPPRESS_H

#include <stddef.h>
#include <stdint.h>
#include "xd/status.h"

typedef struct snd_suppress snd_suppress;

xd_code snd_suppress_open(const char *url, int64_t timeout_ms, snd_suppress **out, xd_err *err);
void snd_suppress_close(snd_suppress *s);

/* suppressed[i] = 1 when addrs[i] must not receive mail of category for
 * org. Returns 0, or -1 when verify did not answer (nothing is known). */
int snd_suppress_check(snd_suppress *s, const char *org_id, const char *category,
                       const char *const *addrs, size_t n, int *suppressed);

#endif
