/*
 * deliver_message.h: the composer's view (snd_message) of a stored
 * SubmitRequest, shared by Submit (validation) and the delivery workers
 * (composition at each attempt).
 * Memory: m borrows req's strings; the arrays are allocated in arena, so
 * both req and arena must outlive m. Thread-safety: reentrant.
 */
#ifndef SND_DELIVER_MESSAGE_H
#define SND_DELIVER_MESSAGE_H

#include "compose_message.h"
#include "sender.pb-c.h"
#include "xd/arena.h"

void snd_message_from_proto(const Xd__SubmitRequest *req, xd_arena *arena, snd_message *m);

#endif
