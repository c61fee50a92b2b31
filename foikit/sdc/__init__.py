"""Statistical disclosure control: the linear model, the intruder's audit and secondary suppression."""
