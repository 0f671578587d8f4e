/* main.c: xd-sender, the outbound queue, composer and DKIM signer. */
#include "handlers.h"

int main(int argc, char **argv)
{
    return xd_service_main(argc, argv, &snd_service_def);
}
