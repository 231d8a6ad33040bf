/* eq_varstore.h - the variables of one model in one mode.
 *
 * A store keeps variables in creation order with the facts the manifest
 * check compares (name with TF's ":0", shape, dtype, trainable) and the facts
 * the variables_once check reports (which layer or op created it, with what
 * arguments, during which call). Values live in the store's own arena and
 * stay valid as long as the store.
 *
 * Name lookup follows compat.v1 get_variable: full name = variable scope +
 * "/" + name. What happens when a name exists or not depends on the mode and
 * is the interpreter's business; the store only finds and adds.
 */
#ifndef EQ_VARSTORE_H
#define EQ_VARSTORE_H

#include <stdint.h>

#include "eq_arena.h"
#include "eq_error.h"
#include "eq_tensor.h"

typedef struct eq_var {
    const char *name;      /* "InceptionResnetV2/Conv2d_1a_3x3/weights:0" */
    eq_tensor *value;      /* shape and elements */
    int trainable;
    const char *creator;   /* "conv2d InceptionResnetV2/Conv2d_1a_3x3" or "variable" */
    const char *args;      /* "initializer=xavier_uniform shape=[3, 3, 3, 32]" */
    const char *path;      /* JSON path of the statement that created it */
    int call;              /* 1-based call during which it was created */
    double l2;             /* regularizer scale (0 = none) */
    int index;             /* position in creation order */
} eq_var;

typedef struct eq_varstore eq_varstore;

eq_varstore *eq_varstore_new(void);
void eq_varstore_free(eq_varstore *s);

/* Find by full name (with ":0"); NULL if absent. O(1) average. */
eq_var *eq_varstore_find(const eq_varstore *s, const char *name);

/* Add a variable with an uninitialised value of the given shape; the strings
 * are copied. NULL with err on failure. Duplicate names are allowed (eager
 * tf.Variable names do not uniquify); find returns the first. */
eq_var *eq_varstore_add(eq_varstore *s, const char *name, int rank,
                        const int64_t *shape, int trainable,
                        const char *creator, const char *args, const char *path,
                        int call, eq_error *err);

int eq_varstore_count(const eq_varstore *s);
eq_var *eq_varstore_at(const eq_varstore *s, int i);

/* Total number of elements over all variables. */
int64_t eq_varstore_params(const eq_varstore *s);

/* Bumped whenever values change through the store (set_all, mark_changed);
 * graph passes that fold weights recompute when it moves. */
uint64_t eq_varstore_version(const eq_varstore *s);
void eq_varstore_mark_changed(eq_varstore *s);

/* Set every element of every variable to value (the guide's step 3). */
void eq_varstore_set_all(eq_varstore *s, double value);

/* The arena that holds values, for callers that need scratch of the same
 * lifetime. */
eq_arena *eq_varstore_arena(eq_varstore *s);

#endif
