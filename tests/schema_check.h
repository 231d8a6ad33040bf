/* schema_check.h - a JSON Schema validator for the subset the job schema
 * uses: type, enum, required, properties, additionalProperties (false or
 * a schema), items, minItems, minimum, maximum, minLength, minProperties,
 * maxProperties, oneOf, anyOf and local "$ref": "#/$defs/NAME". Anything
 * else in the schema is an error, so the schema cannot quietly grow a
 * keyword this validator ignores. Header-only: for tests.
 */
#ifndef SCHEMA_CHECK_H
#define SCHEMA_CHECK_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const sc_known_keywords[] = {
    "$schema", "$id", "$defs", "title", "description", "type", "enum", "required",
    "properties", "additionalProperties", "items", "minItems", "minimum", "maximum",
    "minLength", "minProperties", "maxProperties", "oneOf", "anyOf", "$ref", NULL};

static int sc_fail(char *why, size_t n, const char *path, const char *msg)
{
    snprintf(why, n, "%s: %s", path[0] ? path : "(root)", msg);
    return 0;
}

static int sc_type_is(const json_t *v, const char *t)
{
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    return 0;
}

static const json_t *sc_resolve(const json_t *root, const json_t *s)
{
    const json_t *ref = json_object_get(s, "$ref");
    if (!ref)
        return s;
    const char *r = json_string_value(ref);
    if (!r || strncmp(r, "#/$defs/", 8) != 0)
        return NULL;
    return json_object_get(json_object_get(root, "$defs"), r + 8);
}

static int sc_validate(const json_t *root, const json_t *s, const json_t *v, const char *path,
                       char *why, size_t n);

static int sc_validate(const json_t *root, const json_t *s0, const json_t *v, const char *path,
                       char *why, size_t n)
{
    const json_t *s = sc_resolve(root, s0);
    if (!s || !json_is_object(s))
        return sc_fail(why, n, path, "schema: bad $ref or schema");
    const char *key;
    const json_t *kw;
    json_object_foreach((json_t *)s, key, kw) {
        int known = 0;
        for (int i = 0; sc_known_keywords[i]; i++)
            known |= strcmp(sc_known_keywords[i], key) == 0;
        if (!known) {
            char msg[160];
            snprintf(msg, sizeof msg, "schema uses keyword '%s' the test validator lacks", key);
            return sc_fail(why, n, path, msg);
        }
    }
    const json_t *t = json_object_get(s, "type");
    if (t) {
        int ok = 0;
        if (json_is_string(t))
            ok = sc_type_is(v, json_string_value(t));
        size_t i;
        const json_t *x;
        json_array_foreach(t, i, x) ok |= sc_type_is(v, json_string_value(x));
        if (!ok)
            return sc_fail(why, n, path, "wrong type");
    }
    const json_t *e = json_object_get(s, "enum");
    if (e) {
        int ok = 0;
        size_t i;
        const json_t *x;
        json_array_foreach(e, i, x) ok |= json_equal(x, v);
        if (!ok)
            return sc_fail(why, n, path, "not in enum");
    }
    const json_t *m;
    if ((m = json_object_get(s, "minimum")) && json_is_number(v) &&
        json_number_value(v) < json_number_value(m))
        return sc_fail(why, n, path, "below minimum");
    if ((m = json_object_get(s, "maximum")) && json_is_number(v) &&
        json_number_value(v) > json_number_value(m))
        return sc_fail(why, n, path, "above maximum");
    if ((m = json_object_get(s, "minLength")) && json_is_string(v) &&
        (json_int_t)json_string_length(v) < json_integer_value(m))
        return sc_fail(why, n, path, "too short");
    if (json_is_array(v)) {
        if ((m = json_object_get(s, "minItems")) &&
            (json_int_t)json_array_size(v) < json_integer_value(m))
            return sc_fail(why, n, path, "too few items");
        const json_t *items = json_object_get(s, "items");
        size_t i;
        const json_t *x;
        if (items)
            json_array_foreach(v, i, x) {
                char p[512];
                snprintf(p, sizeof p, "%s[%zu]", path, i);
                if (!sc_validate(root, items, x, p, why, n))
                    return 0;
            }
    }
    if (json_is_object(v)) {
        if ((m = json_object_get(s, "minProperties")) &&
            (json_int_t)json_object_size(v) < json_integer_value(m))
            return sc_fail(why, n, path, "too few properties");
        if ((m = json_object_get(s, "maxProperties")) &&
            (json_int_t)json_object_size(v) > json_integer_value(m))
            return sc_fail(why, n, path, "too many properties");
        const json_t *req = json_object_get(s, "required");
        size_t i;
        const json_t *x;
        json_array_foreach(req, i, x) if (!json_object_get(v, json_string_value(x))) {
            char msg[160];
            snprintf(msg, sizeof msg, "missing required '%s'", json_string_value(x));
            return sc_fail(why, n, path, msg);
        }
        const json_t *props = json_object_get(s, "properties");
        const json_t *addl = json_object_get(s, "additionalProperties");
        const char *k;
        const json_t *val;
        json_object_foreach((json_t *)v, k, val) {
            char p[512];
            snprintf(p, sizeof p, "%s%s%s", path, path[0] ? "." : "", k);
            const json_t *ps = props ? json_object_get(props, k) : NULL;
            if (ps) {
                if (!sc_validate(root, ps, val, p, why, n))
                    return 0;
            } else if (addl && json_is_false(addl)) {
                return sc_fail(why, n, p, "additional property not allowed");
            } else if (addl && json_is_object(addl)) {
                if (!sc_validate(root, addl, val, p, why, n))
                    return 0;
            }
        }
    }
    const json_t *of;
    if ((of = json_object_get(s, "oneOf"))) {
        int hits = 0;
        size_t i;
        const json_t *x;
        char tmp[512];
        json_array_foreach(of, i, x) hits += sc_validate(root, x, v, path, tmp, sizeof tmp);
        if (hits != 1)
            return sc_fail(why, n, path, hits ? "matches more than one of oneOf" : "matches none of oneOf");
    }
    if ((of = json_object_get(s, "anyOf"))) {
        int hits = 0;
        size_t i;
        const json_t *x;
        char tmp[512];
        json_array_foreach(of, i, x) hits += sc_validate(root, x, v, path, tmp, sizeof tmp);
        if (!hits)
            return sc_fail(why, n, path, "matches none of anyOf");
    }
    return 1;
}

/* The JSON types a property schema admits (resolving $ref, oneOf, anyOf),
 * as a set in a JSON object {"string": true, ...}; enums (direct, of a
 * branch, or of items) go to *enums, with *items_enum set for the last. */
static void sc_property_facts(const json_t *root, const json_t *s0, json_t *types, json_t *enums,
                              int *items_enum)
{
    const json_t *s = sc_resolve(root, s0);
    if (!s)
        return;
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t))
        json_object_set_new(types, json_string_value(t), json_true());
    size_t i;
    const json_t *x;
    json_array_foreach(t, i, x) json_object_set_new(types, json_string_value(x), json_true());
    json_array_foreach(json_object_get(s, "enum"), i, x) json_array_append(enums, (json_t *)x);
    const json_t *items = json_object_get(s, "items");
    if (items) {
        const json_t *ie = json_object_get(sc_resolve(root, items), "enum");
        if (ie) {
            *items_enum = 1;
            json_array_foreach(ie, i, x) json_array_append(enums, (json_t *)x);
        }
    }
    static const char *const combos[] = {"oneOf", "anyOf"};
    for (int c = 0; c < 2; c++)
        json_array_foreach(json_object_get(s, combos[c]), i, x)
            sc_property_facts(root, x, types, enums, items_enum);
}

#endif
