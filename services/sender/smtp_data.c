/*
 * smtp_data.c: dot-stuffing and CRLF normalisation of a message body. Each
 * input byte produces at most three output bytes ("..", CRLF), so the loop
 * stops while at least that much room (plus the terminator) is left.
 */
#include "smtp_data.h"

void snd_smtp_dot_encoder_init(snd_smtp_dot_encoder *e, const void *msg, size_t len)
{
    e->in = msg;
    e->len = len;
    e->pos = 0;
    e->at_line_start = 1;
    e->finished = 0;
}

size_t snd_smtp_dot_encode(snd_smtp_dot_encoder *e, char *out, size_t cap)
{
    size_t o = 0;
    if (e->finished || cap < 8)
        return 0;
    while (e->pos < e->len && o + 3 <= cap) {
        unsigned char c = e->in[e->pos++];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && e->pos < e->len && e->in[e->pos] == '\n')
                e->pos++;
            out[o++] = '\r';
            out[o++] = '\n';
            e->at_line_start = 1;
            continue;
        }
        if (c == '.' && e->at_line_start)
            out[o++] = '.';
        out[o++] = (char)c;
        e->at_line_start = 0;
    }
    if (e->pos < e->len)
        return o;
    if (o + 5 > cap)
        return o; /* the terminator goes in the next chunk */
    if (!e->at_line_start) {
        out[o++] = '\r';
        out[o++] = '\n';
        e->at_line_start = 1;
    }
    out[o++] = '.';
    out[o++] = '\r';
    out[o++] = '\n';
    e->finished = 1;
    return o;
}

uint64_t snd_smtp_dot_encoded_size(const void *msg, size_t len)
{
    snd_smtp_dot_encoder e;
    char buf[4096];
    uint64_t total = 0;
    size_t n;
    snd_smtp_dot_encoder_init(&e, msg, len);
    while ((n = snd_smtp_dot_encode(&e, buf, sizeof(buf))) > 0)
        total += n;
    return total;
}

int snd_smtp_has_8bit(const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        if (p[i] & 0x80)
            return 1;
    return 0;
}
