/* conf_grad_oobleck.c - gradients through the oobleck (grad_oobleck fixture). */
#include "fixture.h"

int conf_grad_oobleck(fixture *fx, const char **skip_reason)
{
	*skip_reason = "backward pass not implemented yet";
	return 1;
}
