/*
 * arena.h: a bump allocator for memory that lives as long as one call.
 *
 * The RPC server unpacks each request and builds each reply in the call's
 * arena, then frees everything at once: handlers never free what they put in
 * a reply. xd_arena_allocator() adapts an arena for protobuf-c.
 * Thread-safety: an arena belongs to one thread at a time.
 */
#ifndef XD_ARENA_H
#define XD_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct xd_arena xd_arena;

/* Returns a new arena; NULL on out-of-memory. */
xd_arena *xd_arena_new(void);

/* Frees every block the arena handed out, then the arena. Accepts NULL. */
void xd_arena_free(xd_arena *arena);

/* Forgets every allocation but keeps the first block for reuse. */
void xd_arena_reset(xd_arena *arena);

/* Returns size bytes aligned for any type, zeroed; aborts on out-of-memory
 * (a request path must not limp on with NULL). */
void *xd_arena_alloc(xd_arena *arena, size_t size);

/* Copies s (NULL gives "") into the arena. */
char *xd_arena_strdup(xd_arena *arena, const char *s);

/* Copies n bytes of s and NUL-terminates the copy. */
char *xd_arena_strndup(xd_arena *arena, const char *s, size_t n);

/* printf into the arena. */
char *xd_arena_printf(xd_arena *arena, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A protobuf-c allocator whose frees are no-ops; valid while arena lives. */
ProtobufCAllocator *xd_arena_allocator(xd_arena *arena);

/* Allocates and initialises a protobuf-c message of the given type. */
void *xd_arena_message(xd_arena *arena, const ProtobufCMessageDescriptor *desc);

/* Allocates an array of n pointers (for repeated message fields). */
void **xd_arena_ptrs(xd_arena *arena, size_t n);

#endif
