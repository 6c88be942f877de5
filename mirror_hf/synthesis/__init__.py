"""The authors' data pipeline, run again: the turn faces the release cannot hold (they derive from CelebA), new
dialogues, the filters. New dialogues: ``design`` (CACTUS clients paired with CelebA faces,
four resistance types each) and ``screenplay`` (an LLM writes each session). Turn faces: ``expressions`` (an LLM
describes each client turn's face), ``faces`` (PhotoMaker draws them) and ``checks`` (CLIP, NSFW, and identity,
gender and age against the client's face with DeepFace). The paper's dialogue filters: ``filters`` (and ``canary``,
Canary converted from ParlAI). ``pipeline`` runs them all in order, as the ``mirror-hf`` commands a person would
type."""
