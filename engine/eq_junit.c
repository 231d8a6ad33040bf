/* eq_junit.c - a report as JUnit XML: one testsuite, one testcase per check.
 *
 * CI systems read JUnit; they want failures and errors apart (a failing
 * check is a numerical finding, an erroring one could not run), skipped
 * checks marked, and times in seconds. The text of a failure is the check's
 * summary and messages from the report, so the CI page shows the same
 * sentences as `equivd validate`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_job_internal.h"

typedef struct xbuf {
    char *p;
    size_t len, cap;
    int failed;
} xbuf;

static void raw(xbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = eq_realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void out(xbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(xbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        raw(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Escape for attributes and text alike. Characters XML 1.0 forbids
 * (controls other than tab, newline, CR) become '?'. */
static void esc(xbuf *b, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': raw(b, "&amp;", 5); break;
        case '<': raw(b, "&lt;", 4); break;
        case '>': raw(b, "&gt;", 4); break;
        case '"': raw(b, "&quot;", 6); break;
        case '\'': raw(b, "&apos;", 6); break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                raw(b, "?", 1);
            else
                raw(b, (const char *)&c, 1);
        }
    }
}

static double seconds_of(const json_t *check)
{
    double s = 0;
    if (!eq_report_number_get(json_object_get(check, "seconds"), &s) || !(s >= 0))
        s = 0;
    return s;
}

/* The check's summary line, then its messages, one per line. */
static void body(xbuf *b, const json_t *check)
{
    esc(b, json_string_value(json_object_get(check, "summary")));
    const json_t *msgs = json_object_get(check, "messages");
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        raw(b, "\n", 1);
        esc(b, json_string_value(m));
    }
    const json_t *e = json_object_get(check, "error");
    if (e) {
        raw(b, "\n", 1);
        const char *path = json_string_value(json_object_get(e, "path"));
        if (path && path[0]) {
            esc(b, path);
            raw(b, ": ", 2);
        }
        esc(b, json_string_value(json_object_get(e, "message")));
    }
}

static void testcase(xbuf *b, const char *suite, const json_t *check)
{
    const char *name = json_string_value(json_object_get(check, "name"));
    const char *verdict = json_string_value(json_object_get(check, "verdict"));
    const char *summary = json_string_value(json_object_get(check, "summary"));
    out(b, "    <testcase classname=\"");
    esc(b, suite);
    out(b, "\" name=\"");
    esc(b, name ? name : "?");
    out(b, "\" time=\"%.6f\"", seconds_of(check));
    if (verdict && strcmp(verdict, "pass") == 0) {
        out(b, "/>\n");
        return;
    }
    out(b, ">\n");
    if (verdict && strcmp(verdict, "skipped") == 0) {
        out(b, "      <skipped message=\"");
        esc(b, summary ? summary : "not run");
        out(b, "\"/>\n");
    } else {
        const char *tag = verdict && strcmp(verdict, "fail") == 0 ? "failure" : "error";
        const json_t *e = json_object_get(check, "error");
        const char *type = e ? json_string_value(json_object_get(e, "status")) : NULL;
        out(b, "      <%s message=\"", tag);
        esc(b, summary ? summary : (verdict ? verdict : "no verdict"));
        out(b, "\" type=\"");
        esc(b, type ? type : (strcmp(tag, "failure") == 0 ? "mismatch" : "error"));
        out(b, "\">");
        body(b, check);
        out(b, "</%s>\n", tag);
    }
    out(b, "    </testcase>\n");
}

char *eq_report_junit(const json_t *report)
{
    xbuf b = {0};
    const json_t *checks = json_object_get(report, "checks");
    const json_t *job_error = json_object_get(report, "error");
    const char *name = json_string_value(json_object_get(report, "name"));
    char suite[300];
    snprintf(suite, sizeof suite, "equivd.%s", name && name[0] ? name : "job");
    int tests = 0, failures = 0, errors = 0, skipped = 0;
    double total = 0;
    size_t i;
    const json_t *c;
    json_array_foreach(checks, i, c) {
        const char *v = json_string_value(json_object_get(c, "verdict"));
        tests++;
        total += seconds_of(c);
        if (!v || strcmp(v, "error") == 0)
            errors++;
        else if (strcmp(v, "fail") == 0)
            failures++;
        else if (strcmp(v, "skipped") == 0)
            skipped++;
    }
    /* A job that failed before (or outside) its checks still shows up. */
    int job_case = job_error && json_is_object(job_error);
    if (job_case) {
        tests++;
        errors++;
    }
    double wall = 0;
    const json_t *timing = json_object_get(report, "timing");
    if (!eq_report_number_get(json_object_get(timing, "wall_seconds"), &wall))
        wall = total;
    out(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out(&b, "<testsuites name=\"equivd\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
            "skipped=\"%d\" time=\"%.6f\">\n",
        tests, failures, errors, skipped, wall);
    out(&b, "  <testsuite name=\"");
    esc(&b, suite);
    out(&b, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.6f\">\n",
        tests, failures, errors, skipped, wall);
    out(&b, "    <properties>\n");
    static const char *const props[] = {"verdict", "format"};
    for (size_t k = 0; k < sizeof props / sizeof props[0]; k++) {
        const char *v = json_string_value(json_object_get(report, props[k]));
        if (!v)
            continue;
        out(&b, "      <property name=\"%s\" value=\"", props[k]);
        esc(&b, v);
        out(&b, "\"/>\n");
    }
    out(&b, "    </properties>\n");
    json_array_foreach(checks, i, c) testcase(&b, suite, c);
    if (job_case) {
        out(&b, "    <testcase classname=\"");
        esc(&b, suite);
        out(&b, "\" name=\"job\" time=\"0\">\n      <error message=\"");
        esc(&b, json_string_value(json_object_get(job_error, "message")));
        out(&b, "\" type=\"");
        esc(&b, json_string_value(json_object_get(job_error, "status")));
        out(&b, "\">");
        const char *path = json_string_value(json_object_get(job_error, "path"));
        if (path && path[0]) {
            esc(&b, path);
            out(&b, ": ");
        }
        esc(&b, json_string_value(json_object_get(job_error, "message")));
        out(&b, "</error>\n    </testcase>\n");
    }
    out(&b, "  </testsuite>\n</testsuites>\n");
    if (b.failed) {
        eq_free(b.p);
        return NULL;
    }
    return b.p;
}
