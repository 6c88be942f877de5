"""The expert pairwise study of the MIRROR paper (§6.3, Appendix E), for any set of simulated runs: sample blind
A/B items (:mod:`.study`), annotate them in a Gradio app that also runs as a Space (:mod:`.annotation_app`, saving
through :mod:`.answer_store`), judge the same items with an LLM in both orders (:mod:`.judge`), and report win
rates in the shape of the paper's Tables 4-6, Bradley-Terry strengths and agreement (:mod:`.report`)."""
