/* bank_fixture.h - read tests/golden/bank_fixtures.h5 (made by
 * tests/golden/make_bank_fixtures.py), see fixture_common.h. */
#ifndef TC_BANK_FIXTURE_H
#define TC_BANK_FIXTURE_H

#include "fixture_common.h"

static hid_t bank_fixture_open_(void) { return fixture_open_("bank_fixtures.h5"); }

#define bank_fixture_read_ fixture_read_

/* -1 when the attribute is missing */
static int64_t bank_fixture_attr_i64_(hid_t f, const char *obj, const char *name) {
  int64_t v = -1;
  fixture_attr_(f, obj, name, H5T_NATIVE_INT64, &v);
  return v;
}

#endif
