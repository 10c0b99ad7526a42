/* conf_grad_dit.c - gradients through the dit (grad_dit fixture). */
#include "fixture.h"

int conf_grad_dit(fixture *fx, const char **skip_reason)
{
	*skip_reason = "backward pass not implemented yet";
	return 1;
}
