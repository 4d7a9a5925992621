defmodule Linx.User.Map do
  @moduledoc """
  One line of a user namespace's `uid_map` or `gid_map` (see user_namespaces(7)): the
  ids `inside .. inside + length - 1` of the namespace are the ids
  `outside .. outside + length - 1` of the namespace that reads the file.

      iex> %Linx.User.Map{inside: 0, outside: 100_000, length: 65_536}
      #Linx.User.Map<0..65535 -> 100000..165535>
      iex> %Linx.User.Map{inside: 0, outside: 1000, length: 1}
      #Linx.User.Map<0 -> 1000>

  `Linx.User.set_uid_map/2` takes the same three numbers as `{inside, outside, length}`
  tuples; `to_tuple/1` converts back.
  """

  @enforce_keys [:inside, :outside, :length]
  defstruct @enforce_keys

  @type t :: %__MODULE__{
          inside: non_neg_integer(),
          outside: non_neg_integer(),
          length: pos_integer()
        }

  @doc "The `{inside, outside, length}` tuple `Linx.User.set_uid_map/2` accepts."
  @spec to_tuple(t()) :: {non_neg_integer(), non_neg_integer(), pos_integer()}
  def to_tuple(%__MODULE__{inside: i, outside: o, length: l}), do: {i, o, l}

  defimpl Inspect do
    def inspect(%{inside: i, outside: o, length: 1}, _opts),
      do: "#Linx.User.Map<#{i} -> #{o}>"

    def inspect(%{inside: i, outside: o, length: l}, _opts),
      do: "#Linx.User.Map<#{i}..#{i + l - 1} -> #{o}..#{o + l - 1}>"
  end
end
