/* conf_oobleck.c - conformance handler (not written yet). */
#include "fixture.h"

int conf_oobleck(fixture *fx, const char **skip_reason)
{
	*skip_reason = "not implemented yet";
	return 1;
}
