"""The networks (SRResNet, the discriminator, frozen VGG19), the losses, and the files that
hold trained generators and resumable training state."""
