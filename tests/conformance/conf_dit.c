/* conf_dit.c - conformance handler (not written yet). */
#include "fixture.h"

int conf_dit(fixture *fx, const char **skip_reason)
{
	*skip_reason = "not implemented yet";
	return 1;
}
