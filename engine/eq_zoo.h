/* eq_zoo.h - finding built-in models (engine/zoo/NAME.json, installed as data).
 *
 * Search order: $EQ_ZOO_DIR, then the installed zoo directory, then
 * $EQ_SRCDIR/engine/zoo and ./engine/zoo (a source checkout). */
#ifndef EQ_ZOO_H
#define EQ_ZOO_H

#include <stddef.h>

#include "eq_error.h"

/* The path of zoo model `name` ("inception_resnet_v2") into buf. */
eq_status eq_zoo_find(const char *name, char *buf, size_t n, eq_error *err);

/* The directory in use, or NULL when none exists. */
const char *eq_zoo_dir(char *buf, size_t n);

#endif
