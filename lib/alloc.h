/*
 * alloc.h — allocation for internal bookkeeping.
 *
 * Two kinds of allocation live in the relay (Redis's zmalloc/ztrycalloc
 * split). Structures whose size the relay decides — tables, connection
 * structs — come from x*() here and abort the process on failure: there is no
 * sensible way to carry on without them. Anything whose size a client chooses
 * (payloads, bodies, responses) uses plain malloc and turns failure into a 503.
 */
#ifndef LIB_ALLOC_H
#define LIB_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

#endif
