/* cryptofilter-policyd - placeholder until the policy daemon lands; fails loudly. */
#include <stdio.h>

int     main(void)
{
    fprintf(stderr, "cryptofilter-policyd: not implemented yet\n");
    return 70;
}
