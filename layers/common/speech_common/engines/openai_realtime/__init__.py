"""The `openai-realtime` engine (engine.py), its Realtime session (conversation.py), what the upstream's
failures mean (failures.py), and the verbatim check of what the model said (verbatim.py, with its
spoken-form tables in spoken_forms.py).

Nothing is imported here: the engine registry names `engine:OpenAIRealtimeTextToSpeech`, and the verbatim
check can be used without loading the engine.
"""
