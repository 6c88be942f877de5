"""Real counseling videos (paper §6.4): transcripts in AnnoMI's columns and the user's own video files
(:mod:`.transcripts`), a client face at each client utterance (:mod:`.frames`)."""
