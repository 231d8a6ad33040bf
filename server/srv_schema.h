/* srv_schema.h - the SQL migrations, embedded at build time from
 * schema/NNN_*.sql (see server/gen_schema.sh for why they are embedded).
 * Migration i (0-based) brings PRAGMA user_version from i to i + 1. */
#ifndef SRV_SCHEMA_H
#define SRV_SCHEMA_H

extern const char *const srv_schema_migrations[];
extern const char *const srv_schema_names[];
extern const int srv_schema_count;

#endif
