/* conf_sampler.c - conformance handler (not written yet). */
#include "fixture.h"

int conf_sampler(fixture *fx, const char **skip_reason)
{
	*skip_reason = "not implemented yet";
	return 1;
}
