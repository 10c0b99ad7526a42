/* conf_t5.c - conformance handler (not written yet). */
#include "fixture.h"

int conf_t5(fixture *fx, const char **skip_reason)
{
	*skip_reason = "not implemented yet";
	return 1;
}
