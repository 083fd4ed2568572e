/* cryptofilter-milter - placeholder until the milter lands; fails loudly. */
#include <stdio.h>

int     main(void)
{
    fprintf(stderr, "cryptofilter-milter: not implemented yet\n");
    return 70;
}
