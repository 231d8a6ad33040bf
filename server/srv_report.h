/* srv_report.h - what the store keeps from an engine report besides the
 * report itself: a summary for job listings, the variables of each mode, the
 * comparator metrics per tensor and the random traces, as table rows that
 * can be queried without parsing every report.
 *
 * The report format is the engine's (docs/report.md); these functions read
 * it defensively: a part they do not find is skipped, never an error, so a
 * report from a newer engine still stores. */
#ifndef SRV_REPORT_H
#define SRV_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "eq_error.h"

typedef struct sqlite3 sqlite3;

/* {"verdict", "checks": [{"name", "verdict"}], "passed", "failed", ...}. */
json_t *srv_report_summary(const json_t *report);
/* 1 if the report declares `name` as an endpoint of the model. */
int srv_report_is_endpoint(const json_t *report, const char *name);
/* Insert the rows for job `id` (inside the caller's transaction). */
eq_status srv_report_store(sqlite3 *db, int64_t id, const json_t *report, eq_error *err);

#endif
