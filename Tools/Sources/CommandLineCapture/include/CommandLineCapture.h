/* Links the constructor that gives the Swift runtime the command line without /proc. */
#ifndef COMMAND_LINE_CAPTURE_H
#define COMMAND_LINE_CAPTURE_H

/* Returns 1; calling it keeps the constructor's object in the link. */
int command_line_capture_linked(void);

#endif
