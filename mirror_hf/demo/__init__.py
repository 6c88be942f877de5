"""The therapist demo (Gradio) and its safety gate."""
