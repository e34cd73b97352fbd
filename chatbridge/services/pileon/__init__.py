"""Pile-on detection: many members turning on one within minutes (issue #20, items 5-7).

* `hostility`  a pure scorer: an attack on the person, not harsh words about an idea
* `detector`   the sliding window over the stream, per target member and thread; opens the case
* `actions`    what moderators do with a pile-on case (slow, lock, mute the participants, dismiss)
"""
