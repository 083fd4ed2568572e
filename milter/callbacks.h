/*
 * callbacks - the libmilter callbacks of cryptofilter-milter: they collect
 * the message into the context (context.h), and at end of message run the
 * engine and hand its result to actions.h.
 */
#ifndef CF_MILTER_CALLBACKS_H
#define CF_MILTER_CALLBACKS_H

/* smfi_register() with every callback and the actions we need.  0 or -1. */
int     callbacks_register(void);

#endif
