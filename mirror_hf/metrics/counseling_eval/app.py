from mirror_hf.metrics.space import build_demo

build_demo("counseling_eval").launch()
