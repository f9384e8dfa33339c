/*
 * container_of.h — from a member embedded in a struct back to the struct.
 *
 * Tables, lists and callbacks hand back a pointer to the link they hold;
 * the object around it is found by subtracting the member's offset, as in
 * the Linux kernel. The cast through void * keeps -Wcast-align quiet: the
 * member is inside a properly aligned object of that type.
 */
#ifndef LIB_CONTAINER_OF_H
#define LIB_CONTAINER_OF_H

#include <stddef.h>

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
