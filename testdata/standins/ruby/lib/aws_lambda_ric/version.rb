# frozen_string_literal: true

module AwsLambdaRIC
  # The stand-in's own version; the gem's version is whatever the test world
  # packages it as.
  VERSION = '0.0.0.rtbuild.standin'
end
