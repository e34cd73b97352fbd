"""Moderation: reports, the moderators' queue, mutes, warnings, appeals and the case log.

Everything here is store logic over neutral values, so Discord (buttons, modals, timeouts) and
Matrix (commands on the card, power levels) plug in through the commands and the Platform verbs
without changing it. Where to look:

* `reports`    a member reports a message or a member; reports merge into cases
* `cases`      what moderators do with a case (claim, resolve, dismiss, delete the message)
* `sanctions`  mutes, warnings and their thresholds, appeals, the re-join hook, the lift sweep
* `queue`      the case card in the moderators' room, and finding a case by number or card
* `log`        the case log, moderator notes, actions recorded from the platforms' own logs
* `notices`    what the bot tells members and moderators, always through the outbox
* `executors`  the outbox side: carry out an action, then write back what the platform said
* `scheduler`  the loop that lifts mutes on time, also after a restart or downtime

The package imports nothing at this level so that `services.ingest` can import `sanctions` for
its re-join hook without an import cycle.
"""
