/* version.h - the program version, recorded in every file tailedcore writes
 * (program_version) and printed by --help; one definition so the two agree.
 * A build may override it: make CFLAGS+=-DTC_VERSION='"x.y.z"'. */
#ifndef TC_VERSION_H
#define TC_VERSION_H

#ifndef TC_VERSION
#define TC_VERSION "0.1.0"
#endif

#endif
