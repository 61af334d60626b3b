# In the gem's second require path (vendor), written for rtbuild's tests.
module Greeter
  PUNCTUATION = '!'
end
