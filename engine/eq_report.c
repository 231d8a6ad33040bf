/* eq_report.c - small pieces of the report: numbers, errors, verdicts.
 *
 * JSON has no NaN or Infinity, and jansson's json_real() refuses them, so a
 * diff that overflowed would silently vanish from the report. Every number
 * the report carries goes through eq_report_number(), which writes the
 * strings "nan", "inf" and "-inf" instead (the comparator's encoding, so the
 * whole report reads one way); docs/report.md tells
 * readers to expect them in any numeric field.
 */
#include <math.h>
#include <string.h>

#include "eq_compare.h"
#include "eq_job_internal.h"

json_t *eq_report_number(double v) { return eq_compare_json_number(v); }

int eq_report_number_get(const json_t *j, double *out)
{
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return 1;
    }
    if (!json_is_string(j))
        return 0;
    const char *s = json_string_value(j);
    if (strcmp(s, "nan") == 0)
        *out = NAN;
    else if (strcmp(s, "inf") == 0)
        *out = INFINITY;
    else if (strcmp(s, "-inf") == 0)
        *out = -INFINITY;
    else
        return 0;
    return 1;
}

json_t *eq_report_error_json(const eq_error *err)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "status", json_string(eq_status_name(err->status)));
    json_object_set_new(o, "message", json_string(err->message));
    json_object_set_new(o, "path", json_string(err->path));
    return o;
}

static int rank_of(const char *v)
{
    if (!v)
        return 0;
    if (strcmp(v, "error") == 0)
        return 3;
    if (strcmp(v, "fail") == 0)
        return 2;
    if (strcmp(v, "pass") == 0)
        return 1;
    return 0; /* skipped */
}

const char *eq_report_combine(const char *a, const char *b)
{
    int r = rank_of(a) > rank_of(b) ? rank_of(a) : rank_of(b);
    return r == 3 ? "error" : r == 2 ? "fail" : "pass";
}

const char *eq_report_verdict(const json_t *report)
{
    const char *v = json_string_value(json_object_get(report, "verdict"));
    if (v && strcmp(v, "pass") == 0)
        return "pass";
    if (v && strcmp(v, "fail") == 0)
        return "fail";
    return "error"; /* missing or unknown: never let a broken report pass */
}
