/* vg_cache.h - the Redis cache of person records, between the query path and the store.
 * The only module that includes hiredis.
 *
 * What is cached is what does not depend on the query: the records the store holds for one
 * normalised ID number (vg_person_records, possibly none: a negative entry). The status is
 * derived per request from them. Keys carry the record layout, the status rules' version
 * and the cache generation held in the store.
 *
 * Never stale after an acknowledged push (the lease protocol):
 *   reader: vg_cache_get finds no entry -> puts a lease (a random token) on the key in the
 *           same round trip -> reads the store -> vg_cache_fill writes the entry only if the
 *           key still holds its token (one Lua script, atomic in Redis).
 *   writer: commits to the store -> vg_cache_invalidate deletes the keys -> acknowledges.
 * A reader that read the store before the commit took its lease before that read, so the
 * writer's delete (after the commit) removes the lease and the fill is refused. An evicted
 * lease also refuses the fill. When the delete cannot reach Redis, the writer bumps the
 * generation in the store before acknowledging, so no entry written before is read again
 * by any process.
 *
 * Redis trouble never changes an answer: every function reports VG_ERR_UNAVAILABLE and the
 * caller uses the store. One vg_cache per thread (a hiredis connection is not shared). */
#ifndef VG_CACHE_H
#define VG_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_config.h"
#include "vg_err.h"
#include "vg_record.h"
#include "vg_store.h"

/* Version of the status rules the cached records are read under; part of every key. */
#define VG_STATUS_RULES_VERSION 1

typedef struct vg_cache vg_cache;

/* Process-wide counters, for the shutdown log line and the health output. */
typedef struct vg_cache_stats {
    uint64_t hits;    /* entries found and used */
    uint64_t misses;  /* lookups that went to the store */
    uint64_t errors;  /* Redis commands that failed or timed out */
    uint64_t fills;   /* entries written */
    uint64_t refused; /* fills refused because the lease was gone */
} vg_cache_stats;

/* Makes a cache handle for the calling thread. Does not connect yet (the first call does),
 * so a Redis that is down never stops the gateway. NULL when out of memory. cfg must
 * outlive the handle. */
vg_cache *vg_cache_new(const vg_cache_config *cfg);

/* Closes the connection and frees the handle; NULL is fine. */
void vg_cache_free(vg_cache *c);

/* Looks up n people (normalised ID numbers) under generation gen, in one round trip. For
 * each i: found[i] = 1 and out[i] filled (its buffers reused) when a valid entry exists;
 * else found[i] = 0 and a lease is taken on the key for the vg_cache_fill that follows.
 * VG_ERR_UNAVAILABLE when Redis cannot be used (down, slow, refusing, or in its reconnect
 * backoff): then every found[i] is 0. Owning thread only. */
vg_err vg_cache_get(vg_cache *c, uint64_t gen, const char (*ids)[VG_ID_LEN + 1], size_t n,
                    vg_person_records *out, int *found);

/* Writes the entries of the people vg_cache_get did not find (found[i] == 0) from recs[i]
 * read from the store since, each only while its lease holds; TTL from the config. One
 * round trip. VG_ERR_UNAVAILABLE on Redis trouble (nothing is lost: it is a cache). */
vg_err vg_cache_fill(vg_cache *c, uint64_t gen, const char (*ids)[VG_ID_LEN + 1], size_t n,
                     const vg_person_records *recs, const int *found);

/* Deletes the entries (and leases) of n ID numbers under gen, in one round trip.
 * VG_ERR_UNAVAILABLE when Redis could not be reached: the caller must then bump the
 * generation (vg_store_bump_cache_generation) before acknowledging. */
vg_err vg_cache_invalidate(vg_cache *c, uint64_t gen, const char (*ids)[VG_ID_LEN + 1], size_t n);

/* Copies the process-wide counters. Any thread. */
void vg_cache_stats_get(vg_cache_stats *out);

#endif
