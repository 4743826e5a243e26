"""Amaranth generators: the augmented neuron core and the network accelerator."""
