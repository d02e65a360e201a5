/* score_fixture.h - read tests/golden/score_fixtures.h5 (made by
 * tests/golden/make_score_fixtures.py), see fixture_common.h. */
#ifndef TC_SCORE_FIXTURE_H
#define TC_SCORE_FIXTURE_H

#include "fixture_common.h"

static hid_t score_fixture_open_(void) { return fixture_open_("score_fixtures.h5"); }

#define score_fixture_read_ fixture_read_

#endif
