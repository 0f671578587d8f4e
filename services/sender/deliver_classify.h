/*
 * deliver_classify.h: FailureCategory of an SMTP outcome, from the phase,
 * the reply code and the enhanced status code (RFC 3463).
 * Thread-safety: pure function.
 */
#ifndef SND_DELIVER_CLASSIFY_H
#define SND_DELIVER_CLASSIFY_H

#include "smtp_client.h"

/* 0 (UNSPECIFIED) for a delivered status. */
int snd_classify_failure(const snd_smtp_status *st);

#endif
