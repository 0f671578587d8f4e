/* arena.c: per-call bump allocator (blocks chained, freed together). */
#include "xd/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_SIZE 8192
#define ARENA_ALIGN      16

typedef struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} arena_block;

struct xd_arena {
    arena_block *head;
    ProtobufCAllocator allocator;
};

static arena_block *block_new(size_t size)
{
    arena_block *b = malloc(sizeof(*b) + size);
    if (!b)
        abort();
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

static void *pb_alloc(void *data, size_t size)
{
    return xd_arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* freed with the arena */
}

xd_arena *xd_arena_new(void)
{
    xd_arena *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->head = block_new(ARENA_BLOCK_SIZE);
    a->allocator.alloc = pb_alloc;
    a->allocator.free = pb_free;
    a->allocator.allocator_data = a;
    return a;
}

void xd_arena_free(xd_arena *arena)
{
    if (!arena)
        return;
    for (arena_block *b = arena->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(arena);
}

void xd_arena_reset(xd_arena *arena)
{
    arena_block *b = arena->head;
    while (b->next) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    /* The last block in the chain is the first one allocated. */
    b->used = 0;
    arena->head = b;
}

void *xd_arena_alloc(xd_arena *arena, size_t size)
{
    if (size == 0)
        size = 1;
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    arena_block *b = arena->head;
    if (size > ARENA_BLOCK_SIZE / 2) {
        /* A big one-off gets its own block behind the head, which stays the
         * bump target for the small allocations around it. */
        arena_block *big = block_new(size);
        big->used = size;
        big->next = b->next;
        b->next = big;
        memset(big->data, 0, size);
        return big->data;
    }
    if (b->size - b->used < size) {
        arena_block *nb = block_new(ARENA_BLOCK_SIZE);
        nb->next = b;
        arena->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *xd_arena_strndup(xd_arena *arena, const char *s, size_t n)
{
    char *p = xd_arena_alloc(arena, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xd_arena_strdup(xd_arena *arena, const char *s)
{
    if (!s)
        s = "";
    return xd_arena_strndup(arena, s, strlen(s));
}

char *xd_arena_printf(xd_arena *arena, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return xd_arena_strdup(arena, "");
    char *p = xd_arena_alloc(arena, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

ProtobufCAllocator *xd_arena_allocator(xd_arena *arena)
{
    return &arena->allocator;
}

void *xd_arena_message(xd_arena *arena, const ProtobufCMessageDescriptor *desc)
{
    void *m = xd_arena_alloc(arena, desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

void **xd_arena_ptrs(xd_arena *arena, size_t n)
{
    return xd_arena_alloc(arena, (n ? n : 1) * sizeof(void *));
}
